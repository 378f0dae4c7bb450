"""Who may call what: each viewset action declares the member roles and API-key scope it admits.

A viewset registered on the v1 router without a declaration for one of its actions stops the
process at start-up (`validate_access_declarations`), so no endpoint is ever open by omission.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured

from organisations.models import Role

if TYPE_CHECKING:
    from rest_framework.viewsets import ViewSetMixin

ALL_ROLES: frozenset[str] = frozenset(Role.values)
ADMINS: frozenset[str] = frozenset({Role.OWNER, Role.ADMIN})
MANAGERS: frozenset[str] = ADMINS | {Role.CRISIS_MANAGER}
OWNERS: frozenset[str] = frozenset({Role.OWNER})

# Scopes an API key may carry. Each capability adds its own here, read and write separately.
API_KEY_SCOPES: dict[str, str] = {
    "organisation:read": "Read the organisation's profile and plan limits.",
    "members:read": "List members and their roles.",
    "events:read": "Read the event log and verify its chain.",
    "incidents:read": "Read incidents, their configuration, tasks, roles, timeline and review.",
    "incidents:write": "Declare incidents and change them (transitions, tasks, notes, review).",
    "messages:read": "Read templates, messages (with checks and approvals) and status page.",
    "messages:write": "Draft, edit, submit, check, schedule and publish messages; templates.",
    "playbooks:read": "Read playbooks, their versions, runs, drills and training records.",
    "playbooks:write": "Edit and publish playbooks, run them, complete steps, manage drills.",
    "webhooks:read": "Read webhook endpoints and their delivery log.",
    "webhooks:write": "Manage webhook endpoints: create, rotate secrets, pause, test, replay.",
    "sources:read": "Read monitoring sources (with their health) and watch terms.",
    "sources:write": "Manage sources and watch terms: create, pause, resume, poll now, rotate.",
    "mentions:read": "Read the mention inbox.",
    "mentions:write": "Triage mentions: status, flag, assignee.",
    "mentions:ingest": "Push batches of mentions into a push source.",
    "detection:read": "Read detection rules and the signals they raised.",
    "detection:write": "Manage detection rules; triage signals (escalate, link, dismiss, snooze).",
    "cases:read": "Read complaint cases and their mentions.",
    "cases:write": "Work complaint cases: assign, respond, resolve, close, link to incidents.",
    "reports:read": "Read organisation reports and exports, and incidents' full records.",
}


@dataclass(frozen=True, slots=True)
class Access:
    """The roles (for members) and the scope (for API keys) an action admits.

    `scope=None` means API keys may not call the action at all. `incident_roles` also admits
    whoever holds one of those roles on the incident the request is about (e.g. its commander).
    """

    roles: frozenset[str]
    scope: str | None = None
    incident_roles: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        unknown = set(self.roles) - ALL_ROLES
        if unknown:
            raise ImproperlyConfigured(f"unknown roles in access declaration: {sorted(unknown)}")
        if self.scope is not None and self.scope not in API_KEY_SCOPES:
            raise ImproperlyConfigured(f"unknown API-key scope {self.scope!r}")


def allow(
    roles: Iterable[str], scope: str | None = None, *, incident_roles: Iterable[str] = ()
) -> Access:
    return Access(frozenset(roles), scope, frozenset(incident_roles))


STANDARD_ACTIONS = ("list", "create", "retrieve", "update", "partial_update", "destroy")


def viewset_actions(viewset: type[ViewSetMixin]) -> set[str]:
    """The action names a viewset will route: standard handlers it defines plus @action ones."""
    actions = {name for name in STANDARD_ACTIONS if hasattr(viewset, name)}
    for extra in viewset.get_extra_actions():
        actions.add(extra.__name__)
        mapping: dict[str, str] = getattr(extra, "mapping", {})
        actions.update(mapping.values())  # e.g. @review.mapping.patch → "update_review"
    return actions


def validate_access_declarations(viewset: type[Any]) -> None:
    """Raise ImproperlyConfigured unless every routable action declares its access, and no more."""
    declared: Mapping[str, Access] | None = getattr(viewset, "access", None)
    if declared is None:
        raise ImproperlyConfigured(f"{viewset.__name__} declares no `access` mapping")
    actions = viewset_actions(viewset)
    missing = actions - set(declared)
    if missing:
        raise ImproperlyConfigured(
            f"{viewset.__name__}: actions without an access declaration: {sorted(missing)}"
        )
    stale = set(declared) - actions
    if stale:
        raise ImproperlyConfigured(
            f"{viewset.__name__}: access declared for unknown actions: {sorted(stale)}"
        )
