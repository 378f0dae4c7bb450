"""The playbooks admin (pages render in tests/organisations/test_admin.py): nothing is added,
changed or deleted there, and
"mark reviewed" goes through the service (so it leaves its event)."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from organisations.models import Organisation
from playbooks.models import Drill, Playbook, PlaybookRun, PlaybookVersion, TrainingRecord
from tests.factories import TENANT_OBJECT_MAKERS, make_playbook
from tests.playbooks.helpers import events

pytestmark = pytest.mark.django_db


def url(model: type[Model], view: str, *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


MODELS = (Playbook, PlaybookVersion, PlaybookRun, Drill, TrainingRecord)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_page_renders_and_nothing_is_editable(
    model: type[Model], admin_client: Client, org: Organisation, unscoped: None
) -> None:
    obj = TENANT_OBJECT_MAKERS[model](org)
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
