"""Templates render allow-listed `{{ variables }}` and nothing else: injection attempts are
refused when saved, values are never re-rendered, missing values are errors; legal approval
lapses with an edit or at its expiry."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from communications.models import MessageTemplate
from communications.templating import (
    TemplateRenderError,
    TemplateSyntaxError,
    render,
    template_variables,
)
from organisations.models import Organisation, Role
from tests.communications.helpers import BASE, post
from tests.factories import make_incident
from tests.problems import assert_problem

INJECTIONS = [
    "{{ complainant_name.__class__.__mro__ }}",
    "{{ complainant_name|safe }}",
    "{{ complainant_name() }}",
    "{% import os %}{{ os.system('id') }}",
    "{{ 7*7 }}",
    "{{ config }}",
    "{{ request.user.password }}",
    "{{complainant_name}}}",
    "{# comment #}",
    "{{ self._TemplateReference__context }}",
    "{{ ''.__class__.__base__.__subclasses__() }}",
    "${7*7} {{ unknown_thing }}",
]


@pytest.mark.parametrize("body", INJECTIONS)
def test_anything_but_a_known_name_is_refused(body: str) -> None:
    with pytest.raises(TemplateSyntaxError):
        template_variables(body)


def test_values_are_inserted_once_as_plain_text() -> None:
    text = "Hi {{ complainant_name }}, about {{ incident_reference }}."
    assert template_variables(text) == ["complainant_name", "incident_reference"]
    rendered = render(
        text,
        {"complainant_name": "{{ incident_reference }}\x00\u202e", "incident_reference": "INC-7"},
    )
    assert rendered == "Hi {{ incident_reference }}, about INC-7."


def test_missing_and_unknown_values_are_errors() -> None:
    with pytest.raises(TemplateRenderError, match="complainant_name"):
        render("Hi {{ complainant_name }}", {})
    with pytest.raises(TemplateRenderError, match="secret"):
        render("Hi {{ complainant_name }}", {"complainant_name": "Ana", "secret": "x"})


@pytest.mark.django_db
@pytest.mark.parametrize("body", INJECTIONS[:4])
def test_the_api_refuses_injection_and_stores_nothing(
    org: Organisation, member_client: Callable[..., APIClient], body: str
) -> None:
    lead = member_client(org, Role.COMMS_LEAD)
    response = post(lead, f"{BASE}/templates/", {"name": "T", "kind": "reply", "body": body})
    problem = assert_problem(response, 400, "template_invalid")
    assert "complainant_name" in problem["allowed"]
    with_scopes_disabled_count = MessageTemplate.all_tenants.count()
    assert with_scopes_disabled_count == 0


@pytest.mark.django_db
def test_draft_from_template_and_legal_approval(
    org: Organisation, member_client: Callable[..., APIClient], admin: APIClient
) -> None:
    lead = member_client(org, Role.COMMS_LEAD)
    created = post(
        lead,
        f"{BASE}/templates/",
        {
            "name": "Holding",
            "kind": "public_statement",
            "channel": "status_page",
            "title": "{{ incident_title }}",
            "requires_legal_approval": True,
            "body": "We are sorry about {{ incident_reference }}. We will update you by 15:00.",
        },
    )
    assert created.status_code == 201, created.content
    template = created.json()
    assert template["variables"] == ["incident_title", "incident_reference"]
    assert template["legal_status"] == "pending"
    incident = make_incident(org, title="Checkout errors")
    body = {
        "template": template["id"],
        "incident": str(incident.pk),
        "status_label": "investigating",
    }
    assert_problem(post(lead, f"{BASE}/messages/from-template/", body), 409)

    expires = (timezone.now() + timedelta(days=30)).isoformat()
    approved = post(
        admin, f"{BASE}/templates/{template['id']}/legal-approve/", {"expires_at": expires}
    )
    assert approved.json()["legal_status"] == "approved"
    drafted = post(lead, f"{BASE}/messages/from-template/", body)
    assert drafted.status_code == 201, drafted.content
    message = drafted.json()
    assert message["title"] == "Checkout errors"
    assert message["body"].startswith(f"We are sorry about {incident.reference}.")
    assert (message["channels"], message["template_id"]) == (["status_page"], template["id"])

    edited = lead.patch(
        f"{BASE}/templates/{template['id']}/",
        {"body": "We apologise for {{ incident_reference }}."},
        format="json",
    )
    assert edited.json()["legal_status"] == "pending"


@pytest.mark.django_db
def test_render_preview_names_missing_values(
    org: Organisation, member_client: Callable[..., APIClient]
) -> None:
    lead = member_client(org, Role.COMMS_LEAD)
    template = post(
        lead,
        f"{BASE}/templates/",
        {
            "name": "Reply",
            "kind": "reply",
            "body": "Hi {{ complainant_name }}, sorry!",
        },
    ).json()
    url = f"{BASE}/templates/{template['id']}/render/"
    problem = assert_problem(post(lead, url, {"values": {}}), 400, "template_variables_missing")
    assert problem["missing"] == ["complainant_name"]
    ok = post(lead, url, {"values": {"complainant_name": "Ana"}})
    assert ok.json() == {"title": "", "body": "Hi Ana, sorry!"}
