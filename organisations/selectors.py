"""Reads of the organisations app that are more than a scoped queryset."""

from organisations.events import ChainReport, event_chain_verify
from organisations.models import Organisation


def event_chain_report(*, organisation: Organisation) -> ChainReport:
    """The verification report of one organisation's event chain."""
    return event_chain_verify(organisation=organisation)
