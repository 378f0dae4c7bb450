"""The detection admin: every page renders; rules change mode only through the service."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from monitoring.models import Case, DetectionRule, Signal
from organisations.models import Organisation
from tests.factories import TENANT_OBJECT_MAKERS
from tests.monitoring_detect.helpers import event_types

pytestmark = pytest.mark.django_db


def url(model: type[Model], view: str, *args: Any) -> str:
    return reverse(f"admin:monitoring_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", [DetectionRule, Signal, Case])
def test_every_detection_admin_page_renders(
    model: type[Model], admin_client: Client, org: Organisation
) -> None:
    obj = TENANT_OBJECT_MAKERS[model](org)
    assert admin_client.get(url(model, "changelist")).status_code == 200
    assert admin_client.get(url(model, "changelist"), {"q": "x"}).status_code == 200
    assert admin_client.get(url(model, "change", obj.pk)).status_code == 200
    assert admin_client.get(url(model, "add")).status_code == 403


def test_putting_a_rule_in_monitor_mode_records_the_event(
    admin_client: Client, org: Organisation, unscoped: None
) -> None:
    rule = TENANT_OBJECT_MAKERS[DetectionRule](org)
    DetectionRule.all_tenants.filter(pk=rule.pk).update(mode="active")
    data = {"action": "to_monitor", ACTION_CHECKBOX_NAME: [str(rule.pk)]}
    response = admin_client.post(url(DetectionRule, "changelist"), data)
    assert response.status_code == 302
    assert DetectionRule.all_tenants.get().mode == "monitor"
    assert event_types(org, "detection_rule.") == ["detection_rule.updated"]
