"""Background work of detection (queue `detect`): grouping and rule evaluation after each
ingested batch, the minute sweep that moves time-based windows, and the grouping sweep that
catches batches whose after-commit task was lost."""

from typing import Any

from celery import shared_task
from django.db import transaction

from crisis_api.tenancy import scopes_disabled
from monitoring.services import cases, detection, signals


@shared_task(name="detection.after_ingest", ignore_result=True, acks_late=True)
def after_ingest_task(organisation_id: str, mention_ids: list[str]) -> int:
    """Group a stored batch into cases, then evaluate the organisation's rules. Idempotent:
    only mentions without a case are grouped, and a rule fires once per cooldown."""
    with scopes_disabled():
        cases.cases_group(organisation_id=organisation_id, mention_ids=mention_ids)
        return detection.rules_evaluate(organisation_id=organisation_id)


@shared_task(name="detection.group_pending", ignore_result=True)
def cases_group_pending_task() -> int:
    """Group the mentions whose after-commit grouping never ran (broker down when the batch
    committed, message lost, worker killed): the pending marker is in PostgreSQL."""
    with scopes_disabled():
        return cases.cases_group_pending()


@shared_task(name="detection.sweep", ignore_result=True)
def rules_sweep_task() -> int:
    """Wake snoozed signals that are due, then evaluate every enabled rule: windows move with
    time even when nothing arrives."""
    with scopes_disabled():
        signals.signals_wake()
        return detection.rules_sweep()


@shared_task(name="monitoring.demo_replay", ignore_result=True)
def demo_replay_task() -> int:
    """Push the demo wave's posts whose time has come (development only, see settings)."""
    from monitoring.demo.replay import demo_replay

    with scopes_disabled():
        return demo_replay()


def after_ingest(organisation_id: Any, mention_ids: list[Any]) -> None:
    """Ingest hook: once the batch commits, group and evaluate on the detect queue, off the
    ingest path (opening cases records an event each). A broker outage is logged, not raised
    into the committed ingest: the minute sweeps still evaluate the rules and group the batch
    (its mentions stay `grouping_pending` until grouped)."""
    ids = [str(pk) for pk in mention_ids]
    transaction.on_commit(lambda: after_ingest_task.delay(str(organisation_id), ids), robust=True)
