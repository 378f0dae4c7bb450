"""Helpers shared by the playbook suites: URLs, a realistic plan, run and event look-ups."""

from __future__ import annotations

from typing import Any

from incidents.models import Incident
from organisations.models import Event
from playbooks.demo import DATA_BREACH_PLAN
from playbooks.models import PlaybookRun, PlaybookRunStep

BASE = "/api/v1/orgs/xyz"

PLAN = DATA_BREACH_PLAN


def playbook_url(playbook: Any, action: str = "") -> str:
    return f"{BASE}/playbooks/{playbook.pk}/" + (f"{action}/" if action else "")


def run_url(run: PlaybookRun, action: str = "") -> str:
    return f"{BASE}/playbook-runs/{run.pk}/" + (f"{action}/" if action else "")


def steps_of(run: PlaybookRun) -> dict[str, PlaybookRunStep]:
    return {s.key: s for s in PlaybookRunStep.all_tenants.filter(run=run).select_related("task")}


def runs_of(incident: Incident) -> list[PlaybookRun]:
    return list(PlaybookRun.all_tenants.filter(incident=incident).order_by("started_at", "pk"))


def events(type: str, **payload: Any) -> list[Event]:
    """Events of one type, oldest first, optionally narrowed by payload values."""
    queryset = Event.all_tenants.filter(type=type).order_by("seq")
    return [e for e in queryset if all(e.payload.get(k) == v for k, v in payload.items())]
