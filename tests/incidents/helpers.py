"""Helpers shared by the incident suites: URLs, event look-ups and a responder who commands."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

from incidents.models import CrisisType, Incident
from organisations.models import Event, Organisation, User

BASE = "/api/v1/orgs/xyz"


def incident_url(incident: Incident, action: str = "") -> str:
    return f"{BASE}/incidents/{incident.pk}/" + (f"{action}/" if action else "")


def events_of(incident: Incident, type: str) -> list[Event]:
    """The incident's timeline events of one type, oldest first."""
    return list(
        Event.all_tenants.filter(
            subject_type="incident", subject_id=str(incident.pk), type=type
        ).order_by("seq")
    )


def crisis_type_of(organisation: Organisation, slug: str = "service-outage") -> CrisisType:
    return CrisisType.all_tenants.get(organisation=organisation, slug=slug)


def user_of(client: APIClient) -> User:
    return client.membership.user  # type: ignore[attr-defined, no-any-return]


def post(client: APIClient, url: str, body: dict[str, Any] | None = None, **headers: Any) -> Any:
    return client.post(url, body or {}, format="json", **headers)


def patch(client: APIClient, url: str, body: dict[str, Any], **headers: Any) -> Any:
    return client.patch(url, body, format="json", **headers)
