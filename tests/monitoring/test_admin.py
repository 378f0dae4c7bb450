"""The monitoring admin: pages render with health and without secrets; pause and resume go
through the service (each records its event); nothing is added, edited or deleted here."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client
from django.urls import reverse
from django_scopes import scopes_disabled

from monitoring.models import Source
from monitoring.services import source_create
from organisations.events import Actor
from organisations.models import Event, Organisation
from tests.factories import make_mention, make_source, make_watch_term

pytestmark = pytest.mark.django_db


def test_pages_render_and_show_health_but_no_secret(
    admin_client: Client, org: Organisation
) -> None:
    issued = source_create(
        organisation=org, actor=Actor.system("tests"), kind="push", name="CRM push"
    )
    failing = make_source(org, consecutive_failures=3, last_error="X answered HTTP 503.")
    mention = make_mention(org, source=failing)
    term = make_watch_term(org)
    pages = [
        reverse("admin:monitoring_source_changelist"),
        reverse("admin:monitoring_source_change", args=[issued.source.pk]),
        reverse("admin:monitoring_source_change", args=[failing.pk]),
        reverse("admin:monitoring_mention_changelist"),
        reverse("admin:monitoring_mention_change", args=[mention.pk]),
        reverse("admin:monitoring_watchterm_changelist"),
        reverse("admin:monitoring_watchterm_change", args=[term.pk]),
    ]
    for page in pages:
        response = admin_client.get(page)
        assert response.status_code == 200, page
        assert issued.secret is not None
        assert issued.secret not in response.content.decode()
    listing = admin_client.get(pages[0]).content.decode()
    assert "X answered HTTP 503." in listing
    assert admin_client.get(reverse("admin:monitoring_source_add")).status_code == 403


def test_pause_and_resume_actions_record_events(admin_client: Client, org: Organisation) -> None:
    source = make_source(org)
    url = reverse("admin:monitoring_source_changelist")
    for action, status in (("pause", "paused"), ("resume", "active")):
        data: dict[str, Any] = {"action": action, ACTION_CHECKBOX_NAME: [str(source.pk)]}
        assert admin_client.post(url, data).status_code == 302
        source.refresh_from_db()
        assert source.status == status
    with scopes_disabled():
        types = list(
            Event.all_tenants.filter(organisation=org, type__startswith="source.").values_list(
                "type", flat=True
            )
        )
    assert types == ["source.paused", "source.resumed"]
    assert Source.all_tenants.get(pk=source.pk).status == "active"
