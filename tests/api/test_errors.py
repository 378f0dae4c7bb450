"""Every error leaves as an RFC 9457 problem document (application/problem+json) and changes
nothing: malformed or mistyped bodies, unknown fields, oversize bodies (declared or streamed),
unsupported media types, unknown routes and methods."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings as django_settings
from django.db import models
from django.test import AsyncClient
from django.test.client import FakePayload
from pytest_django import Settings
from rest_framework.test import APIClient

from crisis_api.api.errors import PayloadTooLarge
from crisis_api.api.models import IdempotencyRecord
from crisis_api.api.parsers import LimitedJSONParser
from organisations import services
from organisations.models import (
    ApiKey,
    AuthToken,
    Event,
    Invitation,
    Membership,
    Organisation,
    User,
)
from tests.conftest import membership_of
from tests.factories import make_api_key

KEYS = "/api/v1/orgs/xyz/api-keys/"
PROBLEM_MEMBERS = {"type", "title", "status", "detail", "instance", "code"}
COUNTED: tuple[type[models.Model], ...] = (
    ApiKey,
    AuthToken,
    Event,
    IdempotencyRecord,
    Invitation,
    Membership,
    Organisation,
    User,
)


def row_counts() -> dict[str, int]:
    return {model.__name__: model._base_manager.count() for model in COUNTED}


@contextmanager
def nothing_changes() -> Iterator[None]:
    before = row_counts()
    yield
    assert row_counts() == before


def assert_problem(
    response: Any, status: int, code: str, instance: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = json.loads(response.content)
    assert set(body) >= PROBLEM_MEMBERS
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"].endswith(code)
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    if instance is not None:
        assert body["instance"] == instance
    return body


def errors_by_attr(body: dict[str, Any]) -> dict[str | None, str]:
    return {error["attr"]: error["code"] for error in body["errors"]}


def post_raw(client: APIClient, body: bytes | str, content_type: str = "application/json") -> Any:
    return client.generic("POST", KEYS, body, content_type=content_type)


# --- Bodies -------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b'{"name": "CI", "scopes": [', b"{'name': 'CI'}", b"\xff\xfe"])
def test_malformed_json_is_400_malformed_request(owner: APIClient, body: bytes) -> None:
    with nothing_changes():
        response = post_raw(owner, body)

    assert_problem(response, 400, "malformed_request", instance=KEYS)


def test_malformed_json_on_an_auth_endpoint_is_a_problem_too(db: Any) -> None:
    with nothing_changes():
        response = APIClient().generic(
            "POST", "/api/v1/auth/tokens/", b'{"email":', content_type="application/json"
        )

    assert_problem(response, 400, "malformed_request")


def test_wrong_types_are_400_naming_each_attr(owner: APIClient) -> None:
    with nothing_changes():
        response = owner.post(
            KEYS, {"name": {"a": 1}, "scopes": "x", "expires_at": "soon"}, format="json"
        )

    body = assert_problem(response, 400, "validation_error", instance=KEYS)
    assert errors_by_attr(body) == {
        "name": "invalid",
        "scopes": "not_a_list",
        "expires_at": "invalid",
    }
    assert all(error["detail"] for error in body["errors"])


def test_number_for_name_and_string_for_scopes_names_scopes(owner: APIClient) -> None:
    with nothing_changes():
        response = owner.post(KEYS, {"name": 5, "scopes": "x"}, format="json")

    body = assert_problem(response, 400, "validation_error")
    assert errors_by_attr(body) == {"scopes": "not_a_list"}


def test_missing_fields_are_named(owner: APIClient) -> None:
    with nothing_changes():
        response = owner.post(KEYS, {}, format="json")

    body = assert_problem(response, 400, "validation_error")
    assert errors_by_attr(body) == {"name": "required", "scopes": "required"}


def test_json_that_is_not_an_object_is_400(owner: APIClient) -> None:
    with nothing_changes():
        response = post_raw(owner, b'["name", "scopes"]')

    body = assert_problem(response, 400, "validation_error")
    assert body["errors"][0]["attr"] is None


def test_unknown_field_is_400_unknown_field(owner: APIClient) -> None:
    with nothing_changes():
        response = owner.post(
            KEYS, {"name": "CI", "scopes": ["events:read"], "secret": "mine"}, format="json"
        )

    body = assert_problem(response, 400, "validation_error")
    assert body["errors"] == [
        {"attr": "secret", "code": "unknown_field", "detail": "Unknown field."}
    ]


def test_unknown_fields_are_reported_with_the_other_errors(owner: APIClient) -> None:
    with nothing_changes():
        response = owner.post(KEYS, {"nmae": "CI", "scopes": ["events:read"]}, format="json")

    body = assert_problem(response, 400, "validation_error")
    assert errors_by_attr(body) == {"name": "required", "nmae": "unknown_field"}


def test_unknown_field_on_an_auth_endpoint_is_400(db: Any) -> None:
    with nothing_changes():
        response = APIClient().post(
            "/api/v1/auth/password-reset/", {"email": "a@example.test", "x": 1}, format="json"
        )

    body = assert_problem(response, 400, "validation_error")
    assert errors_by_attr(body) == {"x": "unknown_field"}


def oversize_body() -> bytes:
    body = json.dumps({"name": "x" * django_settings.API_MAX_BODY_BYTES, "scopes": ["events:read"]})
    assert len(body) > django_settings.API_MAX_BODY_BYTES
    return body.encode()


def test_oversize_body_with_content_length_is_413(owner: APIClient) -> None:
    with nothing_changes():
        response = post_raw(owner, oversize_body())

    assert_problem(response, 413, "payload_too_large", instance=KEYS)


def test_body_of_exactly_the_limit_is_not_413(owner: APIClient, settings: Settings) -> None:
    settings.API_MAX_BODY_BYTES = 64
    body = json.dumps({"name": "x", "scopes": ["events:read"]}).encode().ljust(64)

    response = post_raw(owner, body)

    assert response.status_code == 201, response.content


def test_non_numeric_content_length_is_400(owner: APIClient) -> None:
    with nothing_changes():
        response = owner.generic(
            "POST", KEYS, b"{}", content_type="application/json", CONTENT_LENGTH="lots"
        )

    assert_problem(response, 400, "bad_request")


def test_parser_refuses_a_stream_longer_than_the_limit() -> None:
    """The bounded read that protects against bodies arriving without Content-Length."""
    with pytest.raises(PayloadTooLarge):
        LimitedJSONParser().parse(io.BytesIO(oversize_body()), "application/json", {})


def streamed_poster(owner: APIClient, server: str) -> Callable[[bytes], Any]:
    """POST to api-keys the way a chunked upload arrives: no Content-Length at all."""
    if server == "wsgi":
        return lambda body: owner.request(
            REQUEST_METHOD="POST",
            PATH_INFO=KEYS,
            CONTENT_TYPE="application/json",
            HTTP_TRANSFER_ENCODING="chunked",
            **{"wsgi.input": io.BytesIO(body)},  # a real server's stream: short read at EOF
        )
    _, secret = services.auth_token_create(user=membership_of(owner).user)
    headers = [
        (b"host", b"testserver"),
        (b"content-type", b"application/json"),
        (b"transfer-encoding", b"chunked"),
        (b"authorization", f"Bearer {secret}".encode()),
    ]
    request = async_to_sync(AsyncClient().request)
    return lambda body: request(
        method="POST", path=KEYS, query_string="", headers=headers, _body_file=FakePayload(body)
    )


@pytest.mark.parametrize("server", ["wsgi", "asgi"])
def test_oversize_body_without_content_length_is_refused_and_changes_nothing(
    owner: APIClient, server: str
) -> None:
    """A chunked body is bounded by the middleware's own read, not trusted to be empty."""
    post = streamed_poster(owner, server)

    with nothing_changes():
        response = post(oversize_body())

    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    assert set(json.loads(response.content)) >= PROBLEM_MEMBERS


@pytest.mark.parametrize("server", ["wsgi", "asgi"])
def test_small_body_without_content_length_is_read(owner: APIClient, server: str) -> None:
    post = streamed_poster(owner, server)
    response = post(json.dumps({"name": "chunked", "scopes": ["events:read"]}).encode())
    assert response.status_code == 201, response.content
    assert response.json()["name"] == "chunked"


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_unsupported_media_type_is_415(owner: APIClient, content_type: str) -> None:
    with nothing_changes():
        response = post_raw(owner, b"name=CI&scopes=events:read", content_type=content_type)

    assert_problem(response, 415, "unsupported_media_type", instance=KEYS)


# --- Routes and methods -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/api/v1/nope/", "/api/v1/orgs/xyz/nope/", "/api/v1/orgs/xyz/api-keys/not-a-uuid/"],
)
def test_unknown_route_is_404_problem(owner: APIClient, path: str) -> None:
    with nothing_changes():
        response = owner.get(path)

    assert_problem(response, 404, "not_found", instance=path)


def test_unknown_route_is_404_problem_for_anonymous_posts(db: Any) -> None:
    with nothing_changes():
        response = APIClient().post("/api/v1/nope/", {"a": 1}, format="json")

    assert_problem(response, 404, "not_found")


def test_method_not_allowed_is_405_problem(owner: APIClient, org: Organisation) -> None:
    key = make_api_key(org)

    with nothing_changes():
        responses = [
            owner.put("/api/v1/orgs/xyz/members/", {}, format="json"),
            owner.post("/api/v1/orgs/xyz/members/", {}, format="json"),
            owner.delete(f"{KEYS}{key.id}/"),
            owner.delete("/api/v1/orgs/xyz/"),
            APIClient().get("/api/v1/auth/tokens/"),
        ]

    for response in responses:
        assert_problem(response, 405, "method_not_allowed")
    assert "POST" in responses[-1]["Allow"]
    key.refresh_from_db()
    assert key.revoked_at is None


# --- Authentication and permission errors -------------------------------------------------------


def test_missing_credentials_are_401_problem_with_a_challenge(org: Organisation) -> None:
    with nothing_changes():
        response = APIClient().post(KEYS, {"name": "CI", "scopes": ["events:read"]}, format="json")

    assert_problem(response, 401, "not_authenticated", instance=KEYS)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_malformed_bearer_is_401_problem(org: Organisation) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-secret")

    assert_problem(client.get(KEYS), 401, "malformed")


def test_forbidden_role_is_403_problem(viewer: APIClient) -> None:
    with nothing_changes():
        response = viewer.post(KEYS, {"name": "CI", "scopes": ["events:read"]}, format="json")

    assert_problem(response, 403, "permission_denied", instance=KEYS)


def test_validation_runs_after_permission_checks(viewer: APIClient) -> None:
    """A caller who may not act learns nothing about what a valid body would be."""
    assert_problem(post_raw(viewer, b"{not json"), 403, "permission_denied")


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("7933-10-13T02:09:26-18:03", 200),  # an offset PostgreSQL itself would refuse
        ("2026-11-26T10:00:00+14:00", 200),
        ("9999-12-31T23:00:00-05:00", 400),  # beyond year 9999 once in UTC
        ("not-a-date", 400),
    ],
)
def test_date_time_filters_take_any_offset_and_never_fail(
    org: Organisation, member_client: Callable[..., APIClient], value: str, status: int
) -> None:
    client = member_client(org, "admin")
    response = client.get(f"/api/v1/orgs/{org.slug}/events/", {"occurred_before": value})
    assert response.status_code == status, response.content
    if status == 400:
        assert_problem(response, 400, "validation_error")
