"""Helpers shared by the playbook suites: URLs, a realistic plan, run and event look-ups."""

from __future__ import annotations

from typing import Any

from incidents.models import Incident
from organisations.models import Event
from playbooks.models import PlaybookRun, PlaybookRunStep

BASE = "/api/v1/orgs/xyz"

# A data-breach plan: assess, then in parallel a holding statement (drafted, approved) and an
# executive briefing; regulators notified; a wait before the first customer update.
PLAN: dict[str, Any] = {
    "steps": [
        {
            "key": "assess",
            "title": "Establish the facts",
            "kind": "task",
            "role": "commander",
            "due_offset_minutes": 15,
        },
        {
            "key": "holding",
            "title": "Holding statement",
            "kind": "draft_message",
            "role": "comms_lead",
            "due_offset_minutes": 30,
            "depends_on": ["assess"],
            "template": "holding-statement-breach",
            "audience": "public",
        },
        {
            "key": "legal-ok",
            "title": "Legal approves the statement",
            "kind": "approval_gate",
            "role": "legal",
            "due_offset_minutes": 45,
            "depends_on": ["holding"],
        },
        {
            "key": "brief-execs",
            "title": "Brief the executives",
            "kind": "notify",
            "role": "liaison",
            "due_offset_minutes": 20,
            "depends_on": ["assess"],
            "notify_roles": ["commander", "owner"],
            "message": "Data breach under way; first assessment attached to INC.",
        },
    ],
    "raci": [
        {
            "activity": "Public statement",
            "assignments": {"comms_lead": "R", "commander": "A", "legal": "C", "scribe": "I"},
        }
    ],
    "comms_matrix": [
        {
            "audience": "regulators",
            "channel": "email",
            "cadence_minutes": 1440,
            "approver_role": "legal",
        },
        {
            "audience": "public",
            "channel": "status_page",
            "cadence_minutes": 60,
            "approver_role": "comms_lead",
        },
    ],
    "holding_statements": [
        {
            "key": "breach-en",
            "title": "We are investigating",
            "text": "We are investigating a security incident and will update within the hour.",
            "language": "en",
            "audience": "public",
            "approved_until": "2031-01-01T00:00:00Z",
        }
    ],
}


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
