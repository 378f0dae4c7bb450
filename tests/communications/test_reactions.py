"""Communications reacting to playbooks: a draft_message step drafts from its template."""

from __future__ import annotations

import pytest

from communications import services
from communications.models import Message
from organisations.events import Actor
from organisations.models import Organisation
from playbooks.models import PlaybookRunStep
from tests.factories import make_incident, make_playbook

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("unscoped")]
STEPS = [
    {
        "key": "holding",
        "title": "Holding statement",
        "kind": "draft_message",
        "role": "comms_lead",
        "due_offset_minutes": 30,
        "template": "holding-statement-breach",
        "audience": "public",
    },
]


def start(org: Organisation) -> PlaybookRunStep:
    from playbooks import services as playbooks

    incident = make_incident(org, title="Customer data exposed")
    run = playbooks.playbook_run_start(
        incident=incident, playbook=make_playbook(org, steps=STEPS), actor=Actor.system("tests")
    )
    return PlaybookRunStep.all_tenants.get(run=run, key="holding")


def test_a_draft_message_step_drafts_from_the_named_template(org: Organisation) -> None:
    services.template_create(
        organisation=org,
        actor=Actor.system("tests"),
        name="Holding statement: breach",
        kind="status_update",
        channel="status_page",
        title="{{ incident_title }}",
        body="We are sorry. {{ organisation_name }} is investigating {{ incident_reference }}; "
        "we will update you within the hour.",
    )
    step = start(org)
    draft_id = step.result["draft"]["message_id"]
    message = Message.all_tenants.get(pk=draft_id)
    assert message.status == "draft"
    assert message.incident_id == step.run.incident_id
    assert message.title == "Customer data exposed"
    assert message.body.startswith("We are sorry. XYZ is investigating INC-")
    assert message.channels == ["status_page"]
    assert message.status_label == "investigating"


def test_without_a_usable_template_the_step_waits_for_a_person(org: Organisation) -> None:
    services.template_create(
        organisation=org,
        actor=Actor.system("tests"),
        name="holding statement breach",
        kind="reply",
        body="Hi {{ complainant_name }}",
        requires_legal_approval=True,
    )
    step = start(org)
    assert step.status == "waiting"
    assert step.waiting_for == "communications"
    assert not Message.all_tenants.filter(organisation=org).exists()
