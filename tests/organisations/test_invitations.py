"""Invitations by e-mail: the link travels only in the mail, accepting creates the account and
the membership once, expired, revoked and re-sent links are refused, only the invited address
may accept, and pending invitations count against the member limit."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.mail import EmailMessage
from pytest_django import DjangoCaptureOnCommitCallbacks, Settings
from rest_framework.response import Response
from rest_framework.test import APIClient

from crisis_api.celery import app as celery_app
from organisations.models import Event, Invitation, Membership, Organisation, Role, User
from tests.conftest import client_for, membership_of
from tests.factories import PASSWORD, UserFactory
from tests.problems import assert_problem

INVITATIONS = "/api/v1/orgs/xyz/invitations/"
ACCEPT = "/api/v1/auth/invitations/accept/"
INVITEE = "new.person@example.test"
NEW_PASSWORD = "a-brand-new-passphrase-77"

MemberClient = Callable[..., APIClient]


@pytest.fixture
def outbox(settings: Settings, mailoutbox: list[EmailMessage]) -> Iterator[list[EmailMessage]]:
    """Account e-mails as delivered: the locmem backend, Celery running tasks in-process."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager = conf.task_eager_propagates = True
    yield mailoutbox
    conf.task_always_eager, conf.task_eager_propagates = saved


@pytest.fixture
def invite(
    owner: APIClient,
    outbox: list[EmailMessage],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> Callable[..., str]:
    """`invite(email, role)`: invite through the API as the owner; returns the mailed token."""

    def make(email: str = INVITEE, role: str = Role.RESPONDER, by: APIClient = owner) -> str:
        sent = len(outbox)
        with django_capture_on_commit_callbacks(execute=True):
            response = by.post(INVITATIONS, {"email": email, "role": role}, format="json")
        assert response.status_code == 201, response.content
        assert len(outbox) == sent + 1
        return token_in(outbox[-1])

    return make


def token_in(message: EmailMessage) -> str:
    match = re.search(r"(https?://\S+/invitations/accept\?\S+)", str(message.body))
    assert match, message.body
    assert match.group(1).startswith(django_settings.FRONTEND_URL)
    return parse_qs(urlsplit(match.group(1)).query)["token"][0]


def accept(token: str, client: APIClient | None = None, **fields: Any) -> Response:
    body = {"token": token, **fields}
    return (client or APIClient()).post(ACCEPT, body, format="json")  # type: ignore[no-any-return]


def event_types(organisation: Organisation) -> list[str]:
    rows = Event.all_tenants.filter(organisation=organisation).order_by("seq")
    return list(rows.values_list("type", flat=True))


def invitation_of(email: str) -> Invitation:
    return Invitation.all_tenants.get(email=email)


# --- Sending ------------------------------------------------------------------------------------


def test_invitation_mails_a_link_with_the_token(
    owner: APIClient,
    org: Organisation,
    outbox: list[EmailMessage],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(
            INVITATIONS, {"email": "New.Person@Example.test", "role": "responder"}, format="json"
        )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == INVITEE
    assert body["status"] == "pending"
    [message] = outbox
    assert message.to == [INVITEE]
    assert "XYZ" in message.subject
    token = token_in(message)
    assert token.startswith("cinv_")
    assert token not in response.content.decode()
    assert "token" not in " ".join(body)
    assert "invitation.created" in event_types(org)


def test_invitation_is_not_mailed_when_the_request_fails(
    owner: APIClient,
    outbox: list[EmailMessage],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(INVITATIONS, {"email": INVITEE, "role": "emperor"}, format="json")

    assert_problem(response, 400)
    assert outbox == []


def test_only_admins_invite(
    responder: APIClient, org: Organisation, outbox: list[EmailMessage]
) -> None:
    response = responder.post(INVITATIONS, {"email": INVITEE, "role": "viewer"}, format="json")

    assert_problem(response, 403)
    assert not Invitation.all_tenants.filter(organisation=org).exists()


def test_only_owners_invite_owners(admin: APIClient, org: Organisation) -> None:
    response = admin.post(INVITATIONS, {"email": INVITEE, "role": "owner"}, format="json")

    assert_problem(response, 403)
    assert not Invitation.all_tenants.filter(organisation=org).exists()


def test_inviting_an_existing_member_is_409(owner: APIClient, responder: APIClient) -> None:
    email = membership_of(responder).user.email

    response = owner.post(INVITATIONS, {"email": email, "role": "viewer"}, format="json")

    assert_problem(response, 409)


def test_second_pending_invitation_for_one_address_is_409(
    invite: Callable[..., str], owner: APIClient, org: Organisation
) -> None:
    invite()

    response = owner.post(INVITATIONS, {"email": INVITEE, "role": "viewer"}, format="json")

    assert_problem(response, 409)
    assert Invitation.all_tenants.filter(organisation=org).count() == 1


# --- Accepting ----------------------------------------------------------------------------------


def test_accept_creates_the_account_and_the_membership(
    invite: Callable[..., str], org: Organisation
) -> None:
    token = invite(role=Role.APPROVER)

    response = accept(token, password=NEW_PASSWORD, full_name="New Person")

    assert response.status_code == 201, response.content
    assert response.json() == {
        "organisation": "xyz",
        "organisation_name": "XYZ",
        "role": Role.APPROVER,
    }
    user = User.objects.get(email=INVITEE)
    assert user.full_name == "New Person"
    assert user.check_password(NEW_PASSWORD)
    membership = Membership.all_tenants.get(organisation=org, user=user)
    assert membership.role == Role.APPROVER
    invitation = invitation_of(INVITEE)
    assert invitation.status == "accepted"
    assert invitation.accepted_by == user
    assert event_types(org)[-2:] == ["invitation.accepted", "membership.created"]
    created = Event.all_tenants.get(organisation=org, type="membership.created", actor_id=user.pk)
    assert created.subject_id == str(membership.id)


def test_new_member_can_log_in_and_see_the_organisation(invite: Callable[..., str]) -> None:
    accept(invite(), password=NEW_PASSWORD)

    token = APIClient().post(
        "/api/v1/auth/tokens/", {"email": INVITEE, "password": NEW_PASSWORD}, format="json"
    )
    assert token.status_code == 201
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.json()['token']}")
    assert client.get("/api/v1/orgs/xyz/").status_code == 200


def test_invitation_token_works_once(invite: Callable[..., str], org: Organisation) -> None:
    token = invite()
    assert accept(token, password=NEW_PASSWORD).status_code == 201
    events_before = len(event_types(org))

    again = accept(token, password="another-passphrase-99")

    assert_problem(again, 400, "invitation_invalid")
    assert Membership.all_tenants.filter(organisation=org, user__email=INVITEE).count() == 1
    assert User.objects.get(email=INVITEE).check_password(NEW_PASSWORD)
    assert len(event_types(org)) == events_before


def test_expired_invitation_is_refused(invite: Callable[..., str], org: Organisation) -> None:
    token = invite()
    later = invitation_of(INVITEE).expires_at + timedelta(seconds=1)

    with time_machine.travel(later, tick=False):
        response = accept(token, password=NEW_PASSWORD)

    assert_problem(response, 400, "invitation_invalid")
    assert not User.objects.filter(email=INVITEE).exists()
    assert invitation_of(INVITEE).accepted_at is None


def test_invitation_still_works_just_before_it_expires(invite: Callable[..., str]) -> None:
    token = invite()
    nearly = invitation_of(INVITEE).expires_at - timedelta(seconds=1)

    with time_machine.travel(nearly, tick=False):
        response = accept(token, password=NEW_PASSWORD)

    assert response.status_code == 201, response.content


def test_revoked_invitation_is_refused(
    invite: Callable[..., str], owner: APIClient, org: Organisation
) -> None:
    token = invite()
    invitation = invitation_of(INVITEE)
    assert owner.delete(f"{INVITATIONS}{invitation.id}/").status_code == 204

    response = accept(token, password=NEW_PASSWORD)

    assert_problem(response, 400, "invitation_invalid")
    assert not User.objects.filter(email=INVITEE).exists()
    assert "invitation.revoked" in event_types(org)


def test_resent_invitation_replaces_the_old_link(
    invite: Callable[..., str],
    owner: APIClient,
    outbox: list[EmailMessage],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    old = invite()
    invitation = invitation_of(INVITEE)
    with django_capture_on_commit_callbacks(execute=True):
        assert owner.post(f"{INVITATIONS}{invitation.id}/resend/").status_code == 200
    new = token_in(outbox[-1])

    assert new != old
    assert_problem(accept(old, password=NEW_PASSWORD), 400, "invitation_invalid")
    assert accept(new, password=NEW_PASSWORD).status_code == 201


def test_unknown_token_is_refused(db: Any) -> None:
    assert_problem(accept("cinv_0123456789ab_nope", password=NEW_PASSWORD), 400)


def test_accept_with_weak_password_creates_nothing(
    invite: Callable[..., str], org: Organisation
) -> None:
    token = invite()

    response = accept(token, password="123")

    body = assert_problem(response, 400)
    assert {error["attr"] for error in body["errors"]} == {"password"}
    assert not User.objects.filter(email=INVITEE).exists()
    assert invitation_of(INVITEE).status == "pending"


def test_logged_in_user_with_another_email_cannot_accept(
    invite: Callable[..., str], org: Organisation
) -> None:
    token = invite()
    someone_else = client_for(UserFactory(email="someone.else@example.test"))

    response = accept(token, someone_else)

    assert_problem(response, 403)
    assert not Membership.all_tenants.filter(
        organisation=org, user__email="someone.else@example.test"
    ).exists()
    assert invitation_of(INVITEE).status == "pending"


def test_logged_in_invitee_accepts_without_a_password(
    invite: Callable[..., str], org: Organisation
) -> None:
    existing = UserFactory(email=INVITEE)
    token = invite()

    response = accept(token, client_for(existing))

    assert response.status_code == 201, response.content
    assert Membership.all_tenants.filter(organisation=org, user=existing).exists()
    existing.refresh_from_db()
    assert existing.check_password(PASSWORD)


def test_anonymous_accept_for_an_existing_account_must_log_in_first(
    invite: Callable[..., str], org: Organisation
) -> None:
    existing = UserFactory(email=INVITEE)
    token = invite()

    response = accept(token, password=NEW_PASSWORD)

    assert_problem(response, 409)
    existing.refresh_from_db()
    assert existing.check_password(PASSWORD)
    assert not Membership.all_tenants.filter(organisation=org, user=existing).exists()


# --- The member limit ---------------------------------------------------------------------------


def test_member_limit_counts_pending_invitations(
    invite: Callable[..., str], owner: APIClient, org: Organisation
) -> None:
    org.max_members = 3  # the owner, and two seats
    org.save(update_fields=["max_members"])
    invite("first@example.test")
    invite("second@example.test")

    response = owner.post(
        INVITATIONS, {"email": "third@example.test", "role": "viewer"}, format="json"
    )

    assert_problem(response, 409, "plan_limit_exceeded")
    assert Invitation.all_tenants.filter(organisation=org).count() == 2


def test_revoking_an_invitation_frees_its_seat(
    invite: Callable[..., str], owner: APIClient, org: Organisation
) -> None:
    org.max_members = 2
    org.save(update_fields=["max_members"])
    invite("first@example.test")
    owner.delete(f"{INVITATIONS}{invitation_of('first@example.test').id}/")

    invite("second@example.test")

    assert invitation_of("second@example.test").status == "pending"


def test_expired_invitations_free_their_seat(
    invite: Callable[..., str], owner: APIClient, org: Organisation
) -> None:
    org.max_members = 2
    org.save(update_fields=["max_members"])
    invite("first@example.test")
    later = invitation_of("first@example.test").expires_at + timedelta(seconds=1)

    with time_machine.travel(later, tick=False):
        response = owner.post(
            INVITATIONS, {"email": "second@example.test", "role": "viewer"}, format="json"
        )

    assert response.status_code == 201, response.content


def test_member_limit_counts_members(
    owner: APIClient, responder: APIClient, org: Organisation
) -> None:
    org.max_members = 2
    org.save(update_fields=["max_members"])

    response = owner.post(INVITATIONS, {"email": INVITEE, "role": "viewer"}, format="json")

    assert_problem(response, 409, "plan_limit_exceeded")
    assert not Invitation.all_tenants.filter(organisation=org).exists()
