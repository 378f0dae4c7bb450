"""`manage.py verify_event_chain [--org SLUG]`: walk each organisation's event chain link by link.

Exits non-zero naming the first broken link, so it can gate a deploy or run from cron.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_scopes import scopes_disabled

from organisations.events import ChainReport, event_chain_verify
from organisations.models import Organisation


def describe(organisation: Organisation, report: ChainReport) -> str:
    """One line per organisation: how far the chain checks out, or where it breaks."""
    if report.ok:
        return f"{organisation.slug}: ok, {report.checked} events (head #{report.head_seq})"
    event = f" (event {report.broken_event_id})" if report.broken_event_id else ""
    return (
        f"{organisation.slug}: BROKEN at #{report.broken_seq}{event}: {report.reason}; "
        f"{report.checked} of {report.head_seq} events check out"
    )


class Command(BaseCommand):
    help = "Verify the tamper-evident event chain of every organisation (or one, with --org)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", metavar="SLUG", help="Only this organisation.")

    def handle(self, *args: Any, **options: Any) -> None:
        slug: str | None = options["org"]
        organisations = Organisation.objects.order_by("slug")
        if slug is not None:
            organisations = organisations.filter(slug=slug)
            if not organisations.exists():
                raise CommandError(f"No organisation with slug {slug!r}.")
        first_broken: str | None = None
        count = 0
        with scopes_disabled():
            for organisation in organisations.iterator():
                report = event_chain_verify(organisation=organisation)
                line = describe(organisation, report)
                count += 1
                if report.ok:
                    self.stdout.write(line)
                else:
                    self.stderr.write(line)
                    first_broken = first_broken or line
        if first_broken is not None:
            raise CommandError(f"Event chain broken: {first_broken}")
        self.stdout.write(f"{count} organisation(s) verified.")
