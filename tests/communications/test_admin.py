"""The communications admin: every page renders for a superuser, nothing is editable, no
credential is shown, and withdrawing goes through the service (and its event)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from communications.models import (
    ApprovalPolicy,
    BannedTerm,
    ChannelAccount,
    Message,
    MessageTemplate,
    StatusPage,
    StatusUpdate,
)
from organisations.models import Event, Organisation
from tests.factories import TENANT_OBJECT_MAKERS

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("unscoped")]


MODELS = (
    MessageTemplate,
    Message,
    ApprovalPolicy,
    ChannelAccount,
    BannedTerm,
    StatusPage,
    StatusUpdate,
)
MAKERS: dict[type[Model], Callable[[Organisation], Model]] = {
    model: TENANT_OBJECT_MAKERS[model] for model in MODELS
}


def url(model: type[Model], view: str, *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", list(MAKERS), ids=lambda model: model._meta.label)
def test_every_page_renders_and_nothing_is_editable(
    model: type[Model], org: Organisation, admin_client: Client
) -> None:
    obj = MAKERS[model](org)
    assert admin_client.get(url(model, "changelist")).status_code == 200
    detail = admin_client.get(url(model, "change", obj.pk))
    assert detail.status_code == 200
    assert b'name="_save"' not in detail.content
    assert admin_client.get(url(model, "add")).status_code == 403
    assert b"token-1234567890" not in detail.content


def test_withdraw_action_uses_the_service(org: Organisation, admin_client: Client) -> None:
    message = TENANT_OBJECT_MAKERS[Message](org)
    response = admin_client.post(
        url(Message, "changelist"),
        {"action": "withdraw", ACTION_CHECKBOX_NAME: [str(message.pk)]},
        follow=True,
    )
    assert response.status_code == 200
    assert Message.all_tenants.get(pk=message.pk).status == "withdrawn"
    assert Event.all_tenants.filter(type="message.withdrawn", subject_id=str(message.pk)).exists()
