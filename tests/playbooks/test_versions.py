"""Drafts, publishing and immutable versions, content rules, and the diff of two versions."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from rest_framework.test import APIClient

from incidents.models import CrisisType
from organisations.events import Actor
from organisations.models import Organisation
from playbooks import services
from playbooks.models import Playbook, PlaybookVersion
from playbooks.models.playbooks import PublishedVersionImmutableError
from tests.factories import make_playbook
from tests.playbooks.helpers import BASE, PLAN, events, playbook_url
from tests.problems import assert_problem

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")


def create(client: APIClient, **overrides: Any) -> dict[str, Any]:
    response = client.post(
        f"{BASE}/playbooks/", {"name": "Data breach", **PLAN, **overrides}, format="json"
    )
    assert response.status_code == 201, response.content
    body: dict[str, Any] = response.json()
    return body


def test_a_manager_drafts_and_publishes_version_1(admin: APIClient, unscoped: None) -> None:
    body = create(admin)
    assert body["current_version"] is None
    assert body["has_draft_changes"] is True

    response = admin.post(
        f"{BASE}/playbooks/{body['id']}/publish/", {"note": "first"}, format="json"
    )

    assert response.status_code == 201, response.content
    version = response.json()
    assert version["number"] == 1
    assert version["note"] == "first"
    assert [s["key"] for s in version["steps"]] == ["assess", "holding", "legal-ok", "brief-execs"]
    assert version["holding_statements"][0]["approved_until"] == "2031-01-01T00:00:00Z"
    detail = admin.get(f"{BASE}/playbooks/{body['id']}/").json()
    assert detail["current_version"]["number"] == 1
    assert detail["has_draft_changes"] is False
    assert detail["next_review_at"] is not None
    [published] = events("playbook.published")
    assert published.payload["version"]["number"] == 1
    assert published.payload["playbook"]["id"] == body["id"]


def test_editing_a_published_playbook_makes_a_new_draft_and_leaves_v1_alone(
    admin: APIClient, unscoped: None
) -> None:
    body = create(admin)
    admin.post(f"{BASE}/playbooks/{body['id']}/publish/", {}, format="json")
    steps = [*PLAN["steps"], {**PLAN["steps"][0], "key": "debrief", "title": "Debrief"}]

    edited = admin.patch(f"{BASE}/playbooks/{body['id']}/", {"steps": steps}, format="json")

    assert edited.status_code == 200, edited.content
    assert edited.json()["has_draft_changes"] is True
    v1 = PlaybookVersion.all_tenants.get(playbook_id=body["id"], number=1)
    assert [s["key"] for s in v1.steps] == ["assess", "holding", "legal-ok", "brief-execs"]
    v2 = admin.post(f"{BASE}/playbooks/{body['id']}/publish/", {}, format="json").json()
    assert v2["number"] == 2
    assert len(v2["steps"]) == 5
    versions = admin.get(f"{BASE}/playbooks/{body['id']}/versions/").json()
    assert [v["number"] for v in versions] == [2, 1]


def test_editing_back_to_the_published_contents_is_no_draft(
    admin: APIClient, unscoped: None
) -> None:
    body = create(admin)
    admin.post(f"{BASE}/playbooks/{body['id']}/publish/", {}, format="json")
    url = f"{BASE}/playbooks/{body['id']}/"
    assert admin.patch(url, {"description": "x"}, format="json").json()["has_draft_changes"]
    assert not admin.patch(url, {"description": ""}, format="json").json()["has_draft_changes"]


def test_publishing_nothing_new_is_a_conflict(admin: APIClient, unscoped: None) -> None:
    body = create(admin)
    admin.post(f"{BASE}/playbooks/{body['id']}/publish/", {}, format="json")
    response = admin.post(f"{BASE}/playbooks/{body['id']}/publish/", {}, format="json")
    assert_problem(response, 409)
    assert PlaybookVersion.all_tenants.count() == 1


def test_a_playbook_without_steps_cannot_be_published(admin: APIClient, unscoped: None) -> None:
    body = create(admin, steps=[])
    assert_problem(admin.post(f"{BASE}/playbooks/{body['id']}/publish/", {}, format="json"), 400)


def test_a_published_version_refuses_save_update_and_delete(
    org: Organisation, unscoped: None
) -> None:
    version = make_playbook(org).current_version
    assert version is not None
    version.steps = []
    with pytest.raises(PublishedVersionImmutableError):
        version.save()
    with pytest.raises(PublishedVersionImmutableError):
        PlaybookVersion.all_tenants.filter(pk=version.pk).update(steps=[])
    with pytest.raises(PublishedVersionImmutableError):
        PlaybookVersion.objects.with_scopes_disabled().filter(pk=version.pk).delete()
    with pytest.raises(PublishedVersionImmutableError):
        version.delete()
    fresh = PlaybookVersion.all_tenants.get(pk=version.pk)
    assert len(fresh.steps) == 2


def test_the_database_refuses_to_change_a_published_version(
    org: Organisation, unscoped: None
) -> None:
    """Raw SQL bypasses the model: the PostgreSQL trigger still refuses."""
    version = make_playbook(org).current_version
    assert version is not None
    for sql in (
        "UPDATE playbooks_playbookversion SET steps = '[]'::jsonb WHERE id = %s",
        "DELETE FROM playbooks_playbookversion WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="immutable"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [version.pk])
    assert len(PlaybookVersion.all_tenants.get(pk=version.pk).steps) == 2


def test_a_published_playbook_cannot_be_deleted_but_a_draft_can(
    admin: APIClient, org: Organisation, unscoped: None
) -> None:
    published = make_playbook(org)
    assert_problem(admin.delete(playbook_url(published)), 409)
    draft = create(admin)
    assert admin.delete(f"{BASE}/playbooks/{draft['id']}/").status_code == 204
    assert not Playbook.all_tenants.filter(pk=draft["id"]).exists()
    assert events("playbook.deleted")[0].payload["playbook"]["id"] == draft["id"]


@pytest.mark.parametrize(
    ("change", "attr"),
    [
        ({"steps": [PLAN["steps"][0], PLAN["steps"][0]]}, "steps.1.key"),
        (
            {
                "steps": [
                    {**PLAN["steps"][0], "depends_on": ["later"]},
                    {**PLAN["steps"][1], "key": "later", "depends_on": []},
                ]
            },
            "steps.0.depends_on",
        ),
        (
            {"raci": [{"activity": "Statement", "assignments": {"commander": "A", "legal": "A"}}]},
            "raci.0.assignments",
        ),
        (
            {"raci": [{"activity": "Statement", "assignments": {"legal": "R"}}]},
            "raci.0.assignments",
        ),
        ({"comms_matrix": [PLAN["comms_matrix"][0], PLAN["comms_matrix"][0]]}, "comms_matrix"),
    ],
    ids=["duplicate-key", "later-dependency", "two-accountable", "no-accountable", "dup-cell"],
)
def test_inconsistent_contents_are_refused_and_change_nothing(
    admin: APIClient, change: dict[str, Any], attr: str, unscoped: None
) -> None:
    response = admin.post(
        f"{BASE}/playbooks/", {"name": "Bad", **{**PLAN, **change}}, format="json"
    )
    body = assert_problem(response, 400, "invalid_playbook")
    assert attr in {e["attr"] for e in body["errors"]}
    assert not Playbook.all_tenants.exists()


@pytest.mark.parametrize(
    "step",
    [
        {"kind": "draft_message"},  # needs template and audience
        {"kind": "teleport"},
        {"role": "janitor"},
        {"due_offset_minutes": -5},
        {"audience": "martians", "kind": "draft_message", "template": "x"},
        {"unknown": 1},
    ],
)
def test_malformed_steps_are_400_naming_the_field(
    admin: APIClient, step: dict[str, Any], unscoped: None
) -> None:
    steps = [{**PLAN["steps"][0], **step}]
    response = admin.post(f"{BASE}/playbooks/", {"name": "Bad", "steps": steps}, format="json")
    body = assert_problem(response, 400)
    assert all(e["attr"].startswith("steps.0") for e in body["errors"]), body
    assert not Playbook.all_tenants.exists()


def test_the_diff_names_what_changed_between_versions(
    admin: APIClient, org: Organisation, unscoped: None
) -> None:
    body = create(admin)
    url = f"{BASE}/playbooks/{body['id']}/"
    admin.post(f"{url}publish/", {}, format="json")
    steps = [dict(s) for s in PLAN["steps"] if s["key"] != "brief-execs"]
    steps[0]["due_offset_minutes"] = 10
    steps.append({**PLAN["steps"][0], "key": "debrief", "title": "Debrief", "depends_on": []})
    raci = [{"activity": "Public statement", "assignments": {"comms_lead": "A", "legal": "C"}}]
    breach = CrisisType.all_tenants.get(organisation=org, slug="data-breach")
    admin.patch(
        url,
        {
            "steps": steps,
            "raci": raci,
            "comms_matrix": PLAN["comms_matrix"][:1],
            "crisis_types": [str(breach.pk)],
            "min_severity_rank": 2,
        },
        format="json",
    )

    to_draft = admin.get(f"{url}diff/?base=1&head=draft").json()
    admin.post(f"{url}publish/", {}, format="json")
    diff = admin.get(f"{url}diff/?base=1&head=2").json()

    assert diff == {**to_draft, "head": "2"}
    assert [s["key"] for s in diff["steps"]["added"]] == ["debrief"]
    assert [s["key"] for s in diff["steps"]["removed"]] == ["brief-execs"]
    assert diff["steps"]["changed"] == [
        {"key": "assess", "fields": {"due_offset_minutes": {"from": 15, "to": 10}}}
    ]
    assert {(c["role"], c["from"], c["to"]) for c in diff["raci"]} == {
        ("comms_lead", "R", "A"),
        ("commander", "A", None),
        ("scribe", "I", None),
    }
    assert [r["cell"] for r in diff["comms_matrix"]["removed"]] == ["public/status_page"]
    assert diff["conditions"]["crisis_type_ids"] == {"from": [], "to": [str(breach.pk)]}
    assert diff["conditions"]["min_severity_rank"] == {"from": None, "to": 2}


def test_diff_of_a_missing_version_is_404_and_bad_query_is_400(
    admin: APIClient, org: Organisation, unscoped: None
) -> None:
    playbook = make_playbook(org)
    assert_problem(admin.get(playbook_url(playbook, "diff") + "?base=1&head=7"), 404)
    assert_problem(admin.get(playbook_url(playbook, "diff") + "?base=x&head=1"), 400)
    assert_problem(admin.get(playbook_url(playbook, "diff")), 400)


def test_responders_read_but_do_not_edit(
    responder: APIClient, org: Organisation, unscoped: None
) -> None:
    playbook = make_playbook(org)
    assert responder.get(playbook_url(playbook)).status_code == 200
    assert_problem(responder.patch(playbook_url(playbook), {"name": "x"}, format="json"), 403)
    assert_problem(responder.post(playbook_url(playbook, "publish"), {}, format="json"), 403)


def test_names_are_unique_per_organisation(
    admin: APIClient, org: Organisation, unscoped: None
) -> None:
    make_playbook(org, name="Data breach")
    response = admin.post(f"{BASE}/playbooks/", {"name": "Data breach"}, format="json")
    assert_problem(response, 409)


def test_publish_through_the_service_pins_the_document(org: Organisation, unscoped: None) -> None:
    playbook = services.playbook_create(
        organisation=org, actor=SYSTEM, name="Outage", steps=PLAN["steps"][:1]
    )
    version = services.playbook_publish(playbook=playbook, actor=SYSTEM)
    assert version.number == 1
    assert len(version.content_hash) == 64
