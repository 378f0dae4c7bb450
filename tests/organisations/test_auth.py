"""`/api/v1/auth/`: browser sessions with CSRF, app tokens, the current user, password reset by
e-mail, and the log-in lockout."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.mail import EmailMessage
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from pytest_django import DjangoCaptureOnCommitCallbacks, Settings
from rest_framework.response import Response
from rest_framework.test import APIClient

from crisis_api.celery import app as celery_app
from organisations import lockout
from organisations.models import AuthToken, Organisation, Role, User
from organisations.secrets import hash_secret
from tests.conftest import client_for
from tests.factories import PASSWORD, MembershipFactory, UserFactory
from tests.problems import assert_problem

LOGIN = "/api/v1/auth/login/"
LOGOUT = "/api/v1/auth/logout/"
TOKENS = "/api/v1/auth/tokens/"
ME = "/api/v1/auth/me/"
CSRF = "/api/v1/auth/csrf/"
RESET = "/api/v1/auth/password-reset/"
RESET_CONFIRM = "/api/v1/auth/password-reset/confirm/"
NEW_PASSWORD = "a-brand-new-passphrase-77"


@pytest.fixture
def user(db: Any) -> User:
    return UserFactory(email="ada@example.test")  # type: ignore[no-any-return]


@pytest.fixture
def outbox(settings: Settings, mailoutbox: list[EmailMessage]) -> Iterator[list[EmailMessage]]:
    """Account e-mails as delivered: the locmem backend, Celery running tasks in-process."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager = conf.task_eager_propagates = True
    yield mailoutbox
    conf.task_always_eager, conf.task_eager_propagates = saved


def browser() -> APIClient:
    """A client that, like a browser, gets CSRF checked (the test client skips it by default)."""
    return APIClient(enforce_csrf_checks=True)


def csrf_token(client: APIClient) -> str:
    response = client.get(CSRF)
    assert response.status_code == 200
    return str(response.json()["csrf_token"])


def log_in(client: APIClient, email: str, password: str = PASSWORD) -> Response:
    return client.post(  # type: ignore[no-any-return]
        LOGIN,
        {"email": email, "password": password},
        format="json",
        HTTP_X_CSRFTOKEN=csrf_token(client),
    )


def token_for(email: str, password: str = PASSWORD) -> Response:
    return APIClient().post(  # type: ignore[no-any-return]
        TOKENS, {"email": email, "password": password}, format="json"
    )


def bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


# --- Browser sessions ---------------------------------------------------------------------------


def test_login_without_csrf_token_is_refused(user: User) -> None:
    client = browser()
    client.get(CSRF)  # has the cookie, but does not echo it in X-CSRFToken

    response = client.post(LOGIN, {"email": user.email, "password": PASSWORD}, format="json")

    assert_problem(response, 403, "csrf_failed")
    assert "sessionid" not in client.cookies
    assert client.get(ME).status_code == 401


def test_login_without_csrf_cookie_is_refused(user: User) -> None:
    response = browser().post(LOGIN, {"email": user.email, "password": PASSWORD}, format="json")

    assert_problem(response, 403, "csrf_failed")


def test_login_with_csrf_token_opens_a_session_for_reads(user: User) -> None:
    client = browser()

    response = log_in(client, user.email)

    assert response.status_code == 200
    assert response.json()["email"] == user.email
    assert client.cookies["sessionid"].value
    me = client.get(ME)
    assert me.status_code == 200
    assert me.json()["id"] == str(user.id)


def test_login_with_wrong_password_is_401_and_opens_no_session(user: User) -> None:
    client = browser()

    response = log_in(client, user.email, "not-the-password")

    assert_problem(response, 401, "invalid_credentials")
    assert client.get(ME).status_code == 401


def test_session_unsafe_method_without_csrf_header_is_refused(user: User) -> None:
    client = browser()
    log_in(client, user.email)

    response = client.post("/api/v1/orgs/", {"name": "Acme"}, format="json")

    assert_problem(response, 403)
    assert not Organisation.objects.filter(name="Acme").exists()


def test_session_unsafe_method_with_csrf_header_works(user: User) -> None:
    client = browser()
    log_in(client, user.email)
    rotated = client.cookies["csrftoken"].value  # log-in rotates the CSRF secret

    response = client.post(
        "/api/v1/orgs/", {"name": "Acme"}, format="json", HTTP_X_CSRFTOKEN=rotated
    )

    assert response.status_code == 201, response.content
    assert Organisation.objects.filter(name="Acme", membership__user=user).exists()


def test_session_logout_ends_the_session(user: User) -> None:
    client = browser()
    log_in(client, user.email)

    response = client.post(LOGOUT, HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)

    assert response.status_code == 204
    assert client.get(ME).status_code == 401


# --- App tokens ---------------------------------------------------------------------------------


def test_app_token_is_issued_once_and_stored_only_hashed(user: User) -> None:
    response = token_for(user.email)

    assert response.status_code == 201
    secret = response.json()["token"]
    assert secret.startswith("crt_")
    assert response.json()["user"]["email"] == user.email
    stored = AuthToken.objects.get(user=user)
    assert stored.key_hash == hash_secret(secret)
    assert secret not in {stored.prefix, stored.key_hash, stored.name}


def test_app_token_works_as_bearer(user: User) -> None:
    secret = token_for(user.email).json()["token"]

    response = bearer(secret).get(ME)

    assert response.status_code == 200
    assert response.json()["email"] == user.email


def test_app_token_with_wrong_password_is_401(user: User) -> None:
    response = token_for(user.email, "not-the-password")

    assert_problem(response, 401, "invalid_credentials")
    assert "Bearer" in response["WWW-Authenticate"]
    assert not AuthToken.objects.filter(user=user).exists()


def test_logout_revokes_the_app_token(user: User) -> None:
    client = bearer(token_for(user.email).json()["token"])

    assert client.post(LOGOUT).status_code == 204

    assert_problem(client.get(ME), 401, "token_expired")
    assert AuthToken.objects.get(user=user).revoked_at is not None


def test_logout_revokes_only_the_token_used(user: User) -> None:
    leaving = bearer(token_for(user.email).json()["token"])
    staying = bearer(token_for(user.email).json()["token"])

    leaving.post(LOGOUT)

    assert staying.get(ME).status_code == 200


def test_app_token_stops_working_when_it_expires(user: User) -> None:
    client = bearer(token_for(user.email).json()["token"])
    later = timezone.now() + timedelta(days=django_settings.AUTH_TOKEN_TTL_DAYS, seconds=1)

    with time_machine.travel(later, tick=False):
        response = client.get(ME)

    assert_problem(response, 401, "token_expired")


def test_unknown_bearer_token_is_401(db: Any) -> None:
    response = bearer("crt_0123456789ab_" + "x" * 43).get(ME)

    assert_problem(response, 401, "invalid_token")


# --- Current user -------------------------------------------------------------------------------


def test_me_lists_the_users_memberships(
    user: User, org: Organisation, other_org: Organisation
) -> None:
    MembershipFactory(organisation=org, user=user, role=Role.RESPONDER)
    MembershipFactory(organisation=other_org, user=user, role=Role.OWNER)

    response = client_for(user).get(ME)

    assert response.status_code == 200
    body = response.json()
    assert body["email"] == user.email
    assert sorted((m["organisation"], m["role"]) for m in body["memberships"]) == [
        ("other", "owner"),
        ("xyz", "responder"),
    ]
    assert {m["organisation_name"] for m in body["memberships"]} == {"XYZ", "Other"}


def test_me_without_credentials_is_401(db: Any) -> None:
    assert_problem(APIClient().get(ME), 401)


# --- Password reset -----------------------------------------------------------------------------


def request_reset(email: str, capture: DjangoCaptureOnCommitCallbacks) -> Response:
    with capture(execute=True):
        response: Response = APIClient().post(RESET, {"email": email}, format="json")
    return response


def link_params(message: EmailMessage) -> dict[str, str]:
    link = next(word for word in str(message.body).split() if "uid=" in word)
    assert link.startswith(f"{django_settings.FRONTEND_URL}/password-reset?")
    return {name: values[0] for name, values in parse_qs(urlsplit(link).query).items()}


def test_password_reset_mails_a_link_with_uid_and_token(
    user: User,
    outbox: list[EmailMessage],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    response = request_reset(user.email, django_capture_on_commit_callbacks)

    assert response.status_code == 202
    assert [message.to for message in outbox] == [[user.email]]
    params = link_params(outbox[0])
    assert params["uid"]
    assert params["token"]


def test_password_reset_answers_the_same_for_unknown_addresses(
    user: User,
    outbox: list[EmailMessage],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    known = request_reset(user.email, django_capture_on_commit_callbacks)
    unknown = request_reset("nobody@example.test", django_capture_on_commit_callbacks)

    assert unknown.status_code == known.status_code == 202
    assert unknown.content == known.content
    assert [message.to for message in outbox] == [[user.email]]


def test_password_reset_confirm_sets_the_password_and_revokes_app_tokens(
    user: User,
    outbox: list[EmailMessage],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    app = bearer(token_for(user.email).json()["token"])
    request_reset(user.email, django_capture_on_commit_callbacks)
    params = link_params(outbox[0])

    response = APIClient().post(RESET_CONFIRM, {**params, "password": NEW_PASSWORD}, format="json")

    assert response.status_code == 204, response.content
    assert_problem(app.get(ME), 401, "token_expired")
    assert token_for(user.email, PASSWORD).status_code == 401
    assert token_for(user.email, NEW_PASSWORD).status_code == 201


def test_password_reset_link_works_once(
    user: User,
    outbox: list[EmailMessage],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    request_reset(user.email, django_capture_on_commit_callbacks)
    params = link_params(outbox[0])
    first = APIClient().post(RESET_CONFIRM, {**params, "password": NEW_PASSWORD}, format="json")
    assert first.status_code == 204

    again = APIClient().post(
        RESET_CONFIRM, {**params, "password": "yet-another-passphrase-88"}, format="json"
    )

    body = assert_problem(again, 400)
    assert [error["attr"] for error in body["errors"]] == ["token"]
    assert token_for(user.email, NEW_PASSWORD).status_code == 201


@pytest.mark.parametrize(
    "uid",
    [
        None,  # the user's real uid, with a made-up token
        urlsafe_base64_encode(b"not-a-uuid"),
        urlsafe_base64_encode(b"00000000-0000-0000-0000-000000000000"),
        "%%%",
    ],
)
def test_password_reset_confirm_with_bad_link_is_400_and_keeps_the_password(
    user: User, uid: str | None
) -> None:
    uid = uid or urlsafe_base64_encode(force_bytes(user.pk))
    token = "cxyz12-0123456789abcdef0123456789abcdef"

    response = APIClient().post(
        RESET_CONFIRM, {"uid": uid, "token": token, "password": NEW_PASSWORD}, format="json"
    )

    body = assert_problem(response, 400, "validation_error")
    assert [error["attr"] for error in body["errors"]] == ["token"]
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_password_reset_confirm_refuses_a_weak_password(
    user: User,
    outbox: list[EmailMessage],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    request_reset(user.email, django_capture_on_commit_callbacks)

    response = APIClient().post(
        RESET_CONFIRM, {**link_params(outbox[0]), "password": "123"}, format="json"
    )

    body = assert_problem(response, 400)
    assert {error["attr"] for error in body["errors"]} == {"password"}
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


# --- Lockout ------------------------------------------------------------------------------------


def fail_logins(email: str, times: int) -> None:
    for _ in range(times):
        assert token_for(email, "not-the-password").status_code == 401


def lockout_counter(email: str) -> tuple[Any, str]:
    """The redis-py client and raw key of the address's failure counter, to read and shorten
    its TTL: Redis expires it in real time, which time_machine cannot move."""
    key = lockout._key(email)
    client = cache._cache.get_client(key, write=True)  # type: ignore[attr-defined]
    return client, cache.make_and_validate_key(key)


def test_sixth_login_with_right_password_is_locked_out(user: User) -> None:
    fail_logins(user.email, django_settings.LOGIN_FAILURE_LIMIT)

    response = token_for(user.email)

    assert_problem(response, 429, "login_locked")
    retry_after = int(response["Retry-After"])
    assert 0 < retry_after <= django_settings.LOGIN_LOCKOUT_SECONDS
    assert not AuthToken.objects.filter(user=user).exists()


def test_lockout_applies_to_session_login_too(user: User) -> None:
    fail_logins(user.email, django_settings.LOGIN_FAILURE_LIMIT)

    response = log_in(browser(), user.email)

    assert_problem(response, 429, "login_locked")
    assert "Retry-After" in response


def test_lockout_counts_the_address_case_insensitively(user: User) -> None:
    fail_logins(user.email.upper(), django_settings.LOGIN_FAILURE_LIMIT)

    assert token_for(user.email).status_code == 429


def test_fewer_failures_than_the_limit_do_not_lock(user: User) -> None:
    fail_logins(user.email, django_settings.LOGIN_FAILURE_LIMIT - 1)

    assert token_for(user.email).status_code == 201


def test_successful_login_resets_the_failure_count(user: User) -> None:
    fail_logins(user.email, django_settings.LOGIN_FAILURE_LIMIT - 1)
    assert token_for(user.email).status_code == 201

    fail_logins(user.email, django_settings.LOGIN_FAILURE_LIMIT - 1)

    assert token_for(user.email).status_code == 201


def test_lockout_of_one_address_leaves_others_alone(user: User) -> None:
    other = UserFactory()
    fail_logins(user.email, django_settings.LOGIN_FAILURE_LIMIT)

    assert token_for(other.email).status_code == 201


def test_lockout_window_starts_at_the_first_failure(settings: Settings, user: User) -> None:
    settings.LOGIN_LOCKOUT_SECONDS = 600
    fail_logins(user.email, 1)
    client, key = lockout_counter(user.email)

    assert 590 <= client.ttl(key) <= 600
    client.expire(key, 30)  # the window is nearly over: later failures must not extend it
    fail_logins(user.email, 1)
    assert client.ttl(key) <= 30


def test_retry_after_counts_down_the_rest_of_the_window(user: User) -> None:
    fail_logins(user.email, django_settings.LOGIN_FAILURE_LIMIT)
    client, key = lockout_counter(user.email)
    client.expire(key, 42)  # as if all but 42 s of the window had passed

    response = token_for(user.email)

    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 42


def test_right_password_works_again_after_the_lockout_window(user: User) -> None:
    fail_logins(user.email, django_settings.LOGIN_FAILURE_LIMIT)
    assert token_for(user.email).status_code == 429
    client, key = lockout_counter(user.email)

    client.delete(key)  # what Redis does when the window's TTL runs out

    assert token_for(user.email).status_code == 201
