"""`manage.py erase_author --org xyz --platform mastodon --author @someone@example.social`:
erase everything stored about one social author (a data-subject request)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django_scopes import scopes_disabled

from crisis_api.api.errors import DomainError
from monitoring.models import Source
from monitoring.services.retention import AuthorErasure, author_erase
from organisations.events import Actor
from organisations.models import Organisation


class _DryRun(Exception):
    def __init__(self, result: AuthorErasure) -> None:
        self.result = result


class Command(BaseCommand):
    help = "Erase one social author's mentions and complaint cases; the event log keeps counts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="Organisation slug.")
        parser.add_argument("--platform", required=True, choices=Source.Kind.values)
        parser.add_argument("--author", required=True, help="Author id or handle.")
        parser.add_argument(
            "--requested-by", default="", help="Who asked (recorded as the actor's label)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would go; change nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        label = "erase_author command"
        if options["requested_by"]:
            label += f" for {options['requested_by']}"
        with scopes_disabled():
            organisation = Organisation.objects.filter(slug=options["org"]).first()
            if organisation is None:
                raise CommandError(f"No organisation {options['org']!r}.")
            try:
                with transaction.atomic():
                    result = author_erase(
                        organisation=organisation,
                        platform=options["platform"],
                        author=options["author"],
                        actor=Actor.system(label[:254]),
                    )
                    if options["dry_run"]:
                        raise _DryRun(result)
            except _DryRun as dry:
                result = dry.result
            except DomainError as exc:
                raise CommandError(exc.detail) from exc
        verb = "Would erase" if options["dry_run"] else "Erased"
        self.stdout.write(
            f"{verb} {result.mentions} mention(s) and {result.cases} case(s) "
            f"({result.evidence_links} incident evidence link(s)); "
            f"identifier hash {result.identifier_hash}."
        )
