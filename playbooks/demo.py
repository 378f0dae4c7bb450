"""The demo organisation's playbook (`manage.py seed_demo`): a data-breach plan with every kind
of step, a RACI, a communication matrix and a holding statement. Tests use it too."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from incidents.models import CrisisType
from organisations.events import Actor
from organisations.models import Organisation, User
from playbooks.models import Playbook

# A data-breach plan: assess, then in parallel a holding statement (drafted, approved) and an
# executive briefing; regulators notified; a wait before the first customer update.
DATA_BREACH_PLAN: dict[str, Any] = {
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


@transaction.atomic
def demo_playbook_seed(*, organisation: Organisation, owner: User, actor: Actor) -> Playbook | None:
    """Create and publish the data-breach playbook unless the organisation has one by that name."""
    from playbooks import services

    name = "Data breach"
    if Playbook.all_tenants.filter(organisation=organisation, name=name).exists():
        return None
    playbook = services.playbook_create(
        organisation=organisation,
        actor=actor,
        name=name,
        description="First hours of a personal-data breach: facts, statement, legal, executives.",
        owner=owner,
        crisis_types=list(
            CrisisType.all_tenants.filter(organisation=organisation, slug="data-breach")
        ),
        **DATA_BREACH_PLAN,
    )
    services.playbook_publish(playbook=playbook, actor=actor, note="Seeded demo plan.")
    return playbook
