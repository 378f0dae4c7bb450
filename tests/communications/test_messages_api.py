"""Messages through the API: draft → submit (checks) → approve (policy) → publish, with the
rules that make it safe: no self-approval, edits void approvals, a block stops approval unless
an admin overrides it, stricter policies while a severe incident is open, expiry."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from communications import services
from communications.models import ApprovalDecision, ContentCheck, Message, StatusUpdate
from incidents.models import Incident, IncidentRole, Severity
from incidents.services import incident_role_assign
from organisations.events import Actor
from organisations.models import Organisation, Role
from tests.communications.helpers import BASE, act, deliver, draft, events, message_url, post
from tests.factories import make_incident, severity_of
from tests.problems import assert_problem

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("unscoped")]


def test_draft_submit_approve_publish_on_the_status_page(
    org: Organisation, author: APIClient, approver: APIClient, status_page: object
) -> None:
    incident = make_incident(org)
    message = draft(author, incident=str(incident.pk))
    assert message["status"] == "draft"
    assert len(message["content_hash"]) == 64

    submitted = act(author, message, "submit").json()
    assert submitted["status"] == "in_review"
    assert submitted["check"]["result"] == "pass", submitted["check"]
    assert submitted["approval"]["current_step"] == 0

    approved = act(approver, message, "approve", {"comment": "Good"}).json()
    assert approved["status"] == "approved"
    assert approved["approved_hash"] == approved["content_hash"]

    publishing = act(author, message, "publish")
    assert publishing.status_code == 200, publishing.content
    assert publishing.json()["status"] == "publishing"
    published = deliver(message)
    assert published.status == "published"
    update = StatusUpdate.all_tenants.get(message=published)
    assert (update.label, update.incident_id) == ("investigating", incident.pk)
    [event] = events(message, "message.published")
    assert event.payload["content_hash"] == published.content_hash
    incident.refresh_from_db()
    assert incident.last_public_update_at is not None
    assert incident.next_public_update_due_at is not None
    detail = author.get(f"{BASE}/incidents/{incident.pk}/").json()
    assert detail["metrics"]["time_to_first_statement"] >= 0


def test_approval_events_name_the_approver_and_the_hash(
    org: Organisation, author: APIClient, approver: APIClient
) -> None:
    message = draft(author)
    act(author, message, "submit")
    act(approver, message, "approve")
    [recorded] = events(message, "message.approval_recorded")
    [approved] = events(message, "message.approved")
    assert recorded.payload["approver"]["id"] == str(approver.membership.user.pk)
    assert recorded.payload["content_hash"] == message["content_hash"]
    assert approved.payload["approvals"][0]["approver"]["id"] == str(approver.membership.user.pk)
    assert [e.type for e in events(message)][:3] == [
        "message.created",
        "message.submitted",
        "message.checked",
    ]


def test_approve_rejects_self_approval(
    org: Organisation, member_client: Callable[..., APIClient]
) -> None:
    lead = member_client(org, Role.COMMS_LEAD)
    message = draft(lead)
    act(lead, message, "submit")
    response = act(lead, message, "approve")
    assert_problem(response, 403, "approval_not_allowed")
    assert Message.all_tenants.get(pk=message["id"]).status == "in_review"
    assert not ApprovalDecision.all_tenants.exists()


def test_an_edit_after_submission_voids_approvals(
    org: Organisation,
    author: APIClient,
    approver: APIClient,
    member_client: Callable[..., APIClient],
) -> None:
    message = draft(author)
    act(author, message, "submit")
    assert act(approver, message, "approve").json()["status"] == "approved"

    edited = author.patch(
        message_url(message), {"body": "We apologise. We will update you at 15:00."}, format="json"
    )
    assert edited.status_code == 200, edited.content
    body = edited.json()
    assert body["status"] == "draft"
    assert body["approved_hash"] == ""
    assert body["content_hash"] != message["content_hash"]
    assert all(not d["current"] for d in body["approval"]["decisions"])
    assert_problem(act(author, message, "publish"), 409, "invalid_transition")
    [updated] = events(message, "message.updated")
    assert updated.payload["approvals_voided"] is True

    act(author, message, "submit")
    # The earlier approval named the old hash: the same approver must approve again.
    assert act(approver, message, "approve").json()["status"] == "approved"


def test_stale_if_match_is_412(org: Organisation, author: APIClient) -> None:
    message = draft(author)
    response = author.patch(
        message_url(message), {"title": "New"}, format="json", HTTP_IF_MATCH='"99"'
    )
    assert_problem(response, 412, "version_mismatch")


def test_a_blocking_check_stops_approval_until_an_admin_overrides(
    org: Organisation, author: APIClient, approver: APIClient, admin: APIClient
) -> None:
    message = draft(author, body="It is your own fault, you should have read the manual.")
    submitted = act(author, message, "submit").json()
    assert submitted["check"]["result"] == "block"
    categories = {f["category"] for f in submitted["check"]["findings"]}
    assert {"blaming_customer", "mocking"} <= categories
    assert_problem(act(approver, message, "approve"), 409, "content_blocked")

    assert_problem(post(author, message_url(message, "override-check"), {"reason": "x"}), 403)
    assert_problem(post(admin, message_url(message, "override-check"), {}), 400)
    overridden = post(
        admin,
        message_url(message, "override-check"),
        {"reason": "Quoting the customer's own words, agreed with legal."},
    )
    assert overridden.status_code == 200, overridden.content
    assert overridden.json()["override_reason"].startswith("Quoting")
    [event] = events(message, "message.check_overridden")
    assert event.actor_id == str(admin.membership.user.pk)
    assert act(approver, message, "approve").json()["status"] == "approved"


def test_an_override_holds_when_the_same_text_is_checked_again(
    org: Organisation, author: APIClient, approver: APIClient, admin: APIClient
) -> None:
    message = draft(author, body="We are sorry. It was user error; we will update you by 15:00.")
    act(author, message, "submit")
    post(admin, message_url(message, "override-check"), {"reason": "Agreed with the customer."})
    again = post(author, message_url(message, "check")).json()
    assert again["result"] == "block"
    assert again["override_reason"] == "Agreed with the customer."
    assert act(approver, message, "approve").json()["status"] == "approved"


def test_a_new_review_round_needs_new_approvals(
    org: Organisation, author: APIClient, admin: APIClient, member_client: Callable[..., APIClient]
) -> None:
    _policy(admin, name="Two", steps=[{"roles": ["approver"]}, {"roles": ["crisis_manager"]}])
    first, manager = member_client(org, Role.APPROVER), member_client(org, Role.CRISIS_MANAGER)
    message = draft(author)
    act(author, message, "submit")
    assert act(first, message, "approve").json()["status"] == "in_review"
    act(manager, message, "reject", {"reason": "Wait for legal."})
    resubmitted = act(author, message, "submit").json()
    assert resubmitted["approval"]["current_step"] == 0  # the earlier approval does not carry
    assert act(first, message, "approve").json()["status"] == "in_review"
    assert act(manager, message, "approve").json()["status"] == "approved"


def test_check_on_demand_records_a_check(org: Organisation, author: APIClient) -> None:
    message = draft(author, body="WE ARE VERY SORRY ABOUT THIS!!! We will update you soon.")
    response = post(author, message_url(message, "check"))
    assert response.status_code == 201
    body = response.json()
    assert body["result"] == "warn"
    assert {f["category"] for f in body["findings"]} == {"shouting"}
    assert all(f["engine_version"] == body["engine_version"] for f in body["findings"])
    assert ContentCheck.all_tenants.filter(message_id=message["id"]).count() == 1


def test_reject_and_request_changes_need_a_reason_and_an_approver(
    org: Organisation, author: APIClient, approver: APIClient, viewer: APIClient
) -> None:
    message = draft(author)
    act(author, message, "submit")
    assert_problem(act(approver, message, "reject", {}), 400)
    assert_problem(act(viewer, message, "reject", {"reason": "no"}), 403)
    changes = act(approver, message, "request_changes", {"reason": "Say when the next update is."})
    assert changes.json()["status"] == "changes_requested"
    assert act(author, message, "submit").json()["status"] == "in_review"
    rejected = act(approver, message, "reject", {"reason": "Not now."}).json()
    assert (rejected["status"], rejected["closed_reason"]) == ("rejected", "Not now.")
    assert events(message, "message.rejected")[0].payload["reason"] == "Not now."


def _policy(admin: APIClient, **fields: object) -> dict[str, object]:
    response = post(admin, f"{BASE}/approval-policies/", fields)
    assert response.status_code == 201, response.content
    return response.json()  # type: ignore[no-any-return]


def test_a_severe_open_incident_makes_the_stricter_policy_apply(
    org: Organisation,
    author: APIClient,
    approver: APIClient,
    admin: APIClient,
    member_client: Callable[..., APIClient],
) -> None:
    _policy(admin, name="Normal", steps=[{"roles": ["approver"], "rule": "any"}])
    _policy(
        admin,
        name="Crisis",
        min_strictness="strict",
        require_apology=True,
        steps=[
            {"name": "Comms", "roles": ["approver"]},
            {"name": "Legal", "incident_roles": ["legal"]},
        ],
    )
    calm = draft(author)
    assert act(author, calm, "submit").json()["approval"]["policy"]["name"] == "Normal"

    Severity.all_tenants.filter(organisation=org, rank=1).update(approval_strictness="strict")
    severe = make_incident(org, severity=severity_of(org, 1))
    message = draft(author, incident=str(severe.pk))
    submitted = act(author, message, "submit").json()
    assert submitted["approval"]["policy"]["name"] == "Crisis"
    assert act(approver, message, "approve").json()["status"] == "in_review"

    # Step 2 needs the incident's legal role: an org approver is not enough, legal is.
    other_approver = member_client(org, Role.APPROVER)
    assert_problem(act(other_approver, message, "approve"), 403, "approval_not_allowed")
    lawyer = member_client(org, Role.VIEWER)
    incident_role_assign(
        incident=severe, user=lawyer.membership.user, role=IncidentRole.LEGAL, actor=Actor.system()
    )
    assert act(lawyer, message, "approve").json()["status"] == "approved"


def test_policy_tightens_while_a_message_waits(
    org: Organisation,
    author: APIClient,
    approver: APIClient,
    admin: APIClient,
    member_client: Callable[..., APIClient],
) -> None:
    _policy(
        admin,
        name="Crisis",
        min_strictness="elevated",
        steps=[{"roles": ["approver"]}, {"roles": ["admin"]}],
    )
    message = draft(author)
    assert act(author, message, "submit").json()["approval"]["policy"]["name"].startswith("Default")
    Severity.all_tenants.filter(organisation=org, rank=1).update(approval_strictness="elevated")
    make_incident(org, severity=severity_of(org, 1))
    body = act(approver, message, "approve").json()
    assert (body["status"], body["approval"]["policy"]["name"]) == ("in_review", "Crisis")
    assert events(message, "message.policy_tightened")
    assert act(admin, message, "approve").json()["status"] == "approved"


def test_all_rule_needs_every_named_role(
    org: Organisation, author: APIClient, admin: APIClient, member_client: Callable[..., APIClient]
) -> None:
    _policy(admin, name="Both", steps=[{"roles": ["approver", "crisis_manager"], "rule": "all"}])
    message = draft(author)
    act(author, message, "submit")
    first, second = member_client(org, Role.APPROVER), member_client(org, Role.APPROVER)
    assert act(first, message, "approve").json()["status"] == "in_review"
    assert_problem(act(first, message, "approve"), 409)
    assert act(second, message, "approve").json()["status"] == "in_review"
    manager = member_client(org, Role.CRISIS_MANAGER)
    assert act(manager, message, "approve").json()["status"] == "approved"


def test_missing_apology_blocks_when_the_policy_asks(
    org: Organisation, author: APIClient, admin: APIClient
) -> None:
    _policy(
        admin,
        name="Apologise",
        require_apology=True,
        require_next_step=True,
        steps=[{"roles": ["approver"]}],
    )
    message = draft(author, body="The service was down between 9 and 10.")
    findings = act(author, message, "submit").json()["check"]["findings"]
    assert {f["rule"] for f in findings} == {"required:apology", "required:next"}


def test_approvals_expire_and_the_sweep_expires_the_message(
    org: Organisation, author: APIClient, approver: APIClient, admin: APIClient
) -> None:
    _policy(admin, name="Short", approval_ttl_minutes=30, steps=[{"roles": ["approver"]}])
    message = draft(author)
    act(author, message, "submit")
    act(approver, message, "approve")
    with time_machine.travel(timezone.now() + timedelta(minutes=31)):
        assert_problem(act(author, message, "publish"), 409, "not_approved")
        assert services.message_expire_sweep() == 1
    stored = Message.all_tenants.get(pk=message["id"])
    assert stored.status == "expired"
    assert events(message, "message.expired")


def test_review_that_waits_too_long_expires(
    org: Organisation, author: APIClient, admin: APIClient
) -> None:
    _policy(admin, name="Quick", review_timeout_minutes=60, steps=[{"roles": ["approver"]}])
    message = draft(author)
    act(author, message, "submit")
    with time_machine.travel(timezone.now() + timedelta(minutes=61)):
        assert services.message_expire_sweep() == 1
    assert Message.all_tenants.get(pk=message["id"]).status == "expired"


def test_scheduled_message_is_published_by_the_sweeper(
    org: Organisation, author: APIClient, approver: APIClient
) -> None:
    message = draft(author)
    at = timezone.now() + timedelta(minutes=20)
    act(author, message, "submit")
    assert act(author, message, "schedule", {"at": at.isoformat()}).json()["status"] == "in_review"
    assert act(approver, message, "approve").json()["status"] == "scheduled"
    assert services.message_publish_due_sweep() == 0
    with time_machine.travel(at + timedelta(seconds=5)):
        assert services.message_publish_due_sweep() == 1
        assert services.message_publish_due_sweep() == 0
    assert deliver(message).status == "published"


def test_withdraw_is_final(org: Organisation, author: APIClient, approver: APIClient) -> None:
    message = draft(author)
    act(author, message, "submit")
    assert (
        act(author, message, "withdraw", {"reason": "Superseded"}).json()["status"] == "withdrawn"
    )
    assert_problem(act(approver, message, "approve"), 409, "invalid_transition")
    assert_problem(act(author, message, "submit"), 409, "invalid_transition")


@pytest.mark.parametrize(
    ("fields", "attr"),
    [
        ({"channels": ["bluesky"], "body": "x" * 301}, "body"),
        ({"channels": ["mastodon"], "renditions": {"mastodon": "y" * 501}}, "renditions.mastodon"),
        ({"channels": ["sms"]}, "channels.0"),
        ({"kind": "reply", "channels": ["status_page"]}, "channels"),
        ({"kind": "reply", "channels": ["mastodon"]}, "reply_to"),
        ({"kind": "stakeholder_email", "channels": ["email"], "recipients": []}, "recipients"),
        ({"channels": ["status_page"], "status_label": ""}, "status_label"),
        ({"renditions": {"bluesky": "hi"}}, "renditions"),
        ({"reply_to": {"mastodon": {"status_id": "../../admin"}}}, "reply_to"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_bad_content_is_a_400_naming_the_field(
    org: Organisation, author: APIClient, fields: dict[str, object], attr: str
) -> None:
    body = {
        "kind": "public_statement",
        "title": "T",
        "body": "We are sorry.",
        "channels": ["status_page"],
        "status_label": "investigating",
        **fields,
    }
    response = post(author, f"{BASE}/messages/", body)
    problem = assert_problem(response, 400)
    assert attr in {e["attr"] for e in problem["errors"]}, problem
    assert not Message.all_tenants.exists()


def test_bluesky_counts_graphemes_not_code_points(org: Organisation, author: APIClient) -> None:
    family = "👩\u200d👩\u200d👧"  # one grapheme, five code points
    message = draft(author, channels=["bluesky"], body=family * 300, status_label="")
    assert message["status"] == "draft"


def test_messages_of_restricted_incidents_are_hidden_like_the_incident(
    org: Organisation,
    responder: APIClient,
    admin: APIClient,
    member_client: Callable[..., APIClient],
) -> None:
    restricted = make_incident(org, visibility=Incident.Visibility.RESTRICTED)
    hidden = services.message_create(
        organisation=org,
        actor=Actor.system(),
        kind="internal_update",
        body="Internal",
        channels=["webhook"],
        incident=restricted,
    )
    listed = {m["id"] for m in responder.get(f"{BASE}/messages/").json()["results"]}
    assert str(hidden.pk) not in listed
    assert_problem(responder.get(message_url(hidden)), 404)
    assert admin.get(message_url(hidden)).status_code == 200
    analyst = member_client(org, Role.ANALYST)
    audit = analyst.get(f"{BASE}/events/?limit=100").json()["results"]
    assert str(hidden.pk) not in {e["subject"]["id"] for e in audit}
    everything = admin.get(f"{BASE}/events/?limit=100").json()["results"]
    assert str(hidden.pk) in {e["subject"]["id"] for e in everything}


def test_an_incident_role_step_needs_an_incident(
    org: Organisation, author: APIClient, admin: APIClient
) -> None:
    _policy(admin, name="Legal", steps=[{"incident_roles": ["legal"]}])
    message = draft(author)
    assert_problem(act(author, message, "submit"), 409, "policy_unsatisfiable")
    assert Message.all_tenants.get(pk=message["id"]).status == "draft"


def test_message_list_queries_do_not_grow_with_rows(org: Organisation, author: APIClient) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert author.get(f"{BASE}/messages/?limit=100").status_code == 200
        return len(ctx.captured_queries)

    incident = make_incident(org)
    for _ in range(3):
        draft(author, incident=str(incident.pk))
    few = count()
    for _ in range(30):
        draft(author, incident=str(incident.pk))
    assert count() == few
