"""`manage.py seed_demo`: the demo organisation XYZ with one member per role and a superuser.

Idempotent: a second run creates nothing and prints no secrets. Passwords are random and shown only
when an account is created, or again with `--reset-passwords`.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django_scopes import scopes_disabled

from organisations import services
from organisations.events import Actor, event_record, subject_of
from organisations.models import Membership, Organisation, Role, User
from playbooks.demo import demo_playbook_seed

ORG_NAME = "XYZ"
ORG_SLUG = "xyz"
EMAIL_DOMAIN = "xyz.example"
# A platform account of its own: admin@ belongs to the org's "admin" member, a tenant role.
SUPERUSER_EMAIL = f"superuser@{EMAIL_DOMAIN}"
SUPERUSER_LABEL = "superuser (/admin/)"
SEEDER = "seed_demo"


def _new_password() -> str:
    return secrets.token_urlsafe(18)


def member_email(role: str) -> str:
    return f"{role}@{EMAIL_DOMAIN}"


class Command(BaseCommand):
    help = "Create the demo organisation XYZ, one member per role and a superuser (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset-passwords",
            action="store_true",
            help="Give every demo account a new random password and print them.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with scopes_disabled(), transaction.atomic():
            credentials = self._seed()
            if options["reset_passwords"]:
                credentials = self._reset_passwords()
        if credentials:
            self._print_credentials(credentials)
        else:
            self.stdout.write(
                f"Demo data exists: organisation {ORG_NAME!r} (slug {ORG_SLUG!r}) with one member "
                f"per role ({member_email(Role.OWNER)}, …) and {SUPERUSER_EMAIL}.\n"
                "Passwords were printed when the accounts were created; "
                "`manage.py seed_demo --reset-passwords` prints new ones."
            )

    def _seed(self) -> list[tuple[str, str, str]]:
        """Create whatever demo data is missing; returns (label, email, password) of new users."""
        created: list[tuple[str, str, str]] = []

        def user_for(label: str, email: str, **extra: Any) -> User:
            user = User.objects.filter(email=email).first()
            if user is None:
                password = _new_password()
                user = User.objects.create_user(email, password, **extra)
                created.append((label, email, password))
            return user

        owner = user_for(Role.OWNER.value, member_email(Role.OWNER), full_name="Demo Owner")
        organisation = Organisation.objects.filter(slug=ORG_SLUG).first()
        if organisation is None:
            organisation = services.organisation_create(name=ORG_NAME, owner=owner, slug=ORG_SLUG)
            self.stdout.write(f"Created organisation {ORG_NAME!r} (slug {ORG_SLUG!r}).")
        for role in Role:
            user = user_for(role.value, member_email(role), full_name=f"Demo {role.label}")
            self._ensure_member(organisation, user, role)
        manager = User.objects.get(email=member_email(Role.CRISIS_MANAGER))
        if demo_playbook_seed(organisation=organisation, owner=manager, actor=Actor.system(SEEDER)):
            self.stdout.write("Created the demo playbook 'Data breach' (published, version 1).")
        superuser = user_for(SUPERUSER_LABEL, SUPERUSER_EMAIL, full_name="Demo Superuser")
        if not (superuser.is_staff and superuser.is_superuser):
            superuser.is_staff = superuser.is_superuser = True
            superuser.save(update_fields=("is_staff", "is_superuser"))
        return created

    def _ensure_member(self, organisation: Organisation, user: User, role: Role) -> None:
        """Add the user with this role unless already a member (an existing role is kept)."""
        if Membership.all_tenants.filter(organisation=organisation, user=user).exists():
            return
        with transaction.atomic():
            membership = Membership.all_tenants.create(
                organisation=organisation, user=user, role=role
            )
            event_record(
                organisation=organisation,
                actor=Actor.system(SEEDER),
                type="membership.created",
                subject=subject_of(membership),
                payload={"user_id": str(user.pk), "role": role.value},
            )

    def _reset_passwords(self) -> list[tuple[str, str, str]]:
        """New passwords for every demo account; their app tokens are revoked with the old ones."""
        accounts = [(role.value, member_email(role)) for role in Role]
        accounts.append((SUPERUSER_LABEL, SUPERUSER_EMAIL))
        credentials = []
        for label, email in accounts:
            password = _new_password()
            services.password_reset_confirm(user=User.objects.get(email=email), password=password)
            credentials.append((label, email, password))
        return credentials

    def _print_credentials(self, credentials: list[tuple[str, str, str]]) -> None:
        """The one time these passwords are shown: a table, then how to turn one into a token."""
        headers = ("role", "email", "password")
        widths = [max(len(row[i]) for row in [headers, *credentials]) for i in range(3)]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in [headers, *credentials]
        ]
        lines.insert(1, "  ".join("-" * width for width in widths))
        _, email, password = credentials[0]
        base = f"http://127.0.0.1:{os.environ.get('PORT') or 8000}"
        self.stdout.write(
            f"\nDemo accounts of organisation {ORG_NAME!r} (slug {ORG_SLUG!r}); "
            "these passwords are shown only now:\n\n"
            + "\n".join(lines)
            + "\n\nApp token (Bearer) for an account:\n"
            f"  curl -X POST {base}/api/v1/auth/tokens/ "
            "-H 'Content-Type: application/json' \\\n"
            f'    -d \'{{"email": "{email}", "password": "{password}"}}\'\n'
            "Django admin: /admin/ as the superuser. "
            "New passwords: manage.py seed_demo --reset-passwords\n"
        )
