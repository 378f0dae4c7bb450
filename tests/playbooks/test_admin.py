"""The playbooks admin: every page renders, nothing is added, changed or deleted there, and
"mark reviewed" goes through the service (so it leaves its event)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from organisations.models import Organisation
from playbooks.models import Drill, Playbook, PlaybookRun, PlaybookVersion, TrainingRecord
from tests.factories import make_playbook, make_training_record
from tests.playbooks.helpers import events

pytestmark = pytest.mark.django_db


def url(model: type[Model], view: str, *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _run(org: Organisation) -> PlaybookRun:
    record = make_training_record(org)
    return PlaybookRun.all_tenants.get(pk=record.drill.run_id)


MAKERS: dict[type[Model], Callable[[Organisation], Model]] = {
    Playbook: make_playbook,
    PlaybookVersion: lambda org: PlaybookVersion.all_tenants.get(playbook=make_playbook(org)),
    PlaybookRun: _run,
    Drill: lambda org: make_training_record(org).drill,
    TrainingRecord: make_training_record,
}


@pytest.mark.parametrize("model", list(MAKERS), ids=lambda m: m.__name__)
def test_every_page_renders_and_nothing_is_editable(
    model: type[Model], admin_client: Client, org: Organisation, unscoped: None
) -> None:
    obj = MAKERS[model](org)
    assert admin_client.get(url(model, "changelist")).status_code == 200
    assert admin_client.get(url(model, "changelist"), {"q": "x"}).status_code == 200
    page = admin_client.get(url(model, "change", obj.pk))
    assert page.status_code == 200
    assert b'type="submit" value="Save"' not in page.content
    assert admin_client.get(url(model, "add")).status_code == 403
    assert admin_client.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert type(obj)._base_manager.filter(pk=obj.pk).exists()


def test_mark_reviewed_goes_through_the_service(
    admin_client: Client, org: Organisation, unscoped: None
) -> None:
    playbook = make_playbook(org)
    response = admin_client.post(
        url(Playbook, "changelist"),
        {"action": "mark_reviewed", ACTION_CHECKBOX_NAME: [str(playbook.pk)]},
    )
    assert response.status_code == 302
    [reviewed] = events("playbook.reviewed")
    assert reviewed.actor_label == "admin@example.com"
