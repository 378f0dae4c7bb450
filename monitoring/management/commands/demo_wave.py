"""`manage.py demo_wave`: the demo's replay source, rules and watch terms for organisation XYZ
(idempotent); the wave starts once, on creation, or again with `--restart`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_scopes import scopes_disabled

from monitoring.demo.replay import demo_setup, wave
from organisations.models import Organisation


class Command(BaseCommand):
    help = "Set up the demo wave replay for the demo organisation (run after seed_demo)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", default="xyz", help="Organisation slug (default: xyz).")
        parser.add_argument("--restart", action="store_true", help="Replay the wave again.")
        parser.add_argument("--delay", type=int, default=30, help="Seconds before it starts.")

    def handle(self, *args: Any, **options: Any) -> None:
        with scopes_disabled():
            organisation = Organisation.objects.filter(slug=options["org"]).first()
            if organisation is None:
                raise CommandError(f"No organisation {options['org']!r}; run seed_demo first.")
            source, scheduled = demo_setup(
                organisation=organisation,
                delay_seconds=options["delay"],
                restart=options["restart"],
            )
        live = [p for p in wave() if p.offset_seconds >= 0]
        if scheduled:
            self.stdout.write(
                f"Demo wave: {len(live)} angry posts (English and Polish) start arriving in "
                f"{options['delay']} s through the push source {source.name!r}. Watch "
                f"/api/v1/orgs/{organisation.slug}/mentions/, …/signals/ and …/incidents/: "
                "a spike fires and an incident is declared within two minutes."
            )
        else:
            self.stdout.write(
                "Demo wave already played; `manage.py demo_wave --restart` replays it."
            )
