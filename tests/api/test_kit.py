"""API kit behaviour not covered by the route walks: throttling, health, docs, request ids,
event filters and pagination limits."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework import serializers
from rest_framework.test import APIClient

from crisis_api import health
from crisis_api.api.serializers import StrictInput
from crisis_api.api.throttling import CredentialRateThrottle
from organisations.models import Organisation, Role
from tests.factories import make_api_key, make_event, make_invitation, make_membership

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_per_minute() -> Iterator[None]:
    rates = dict(CredentialRateThrottle.THROTTLE_RATES)
    CredentialRateThrottle.THROTTLE_RATES = {**rates, "credential": "3/min"}
    yield
    CredentialRateThrottle.THROTTLE_RATES = rates


def test_throttle_counts_per_credential_in_redis(
    org: Organisation,
    member_client: Callable[..., APIClient],
    api_key_client: Callable[..., APIClient],
    three_per_minute: None,
) -> None:
    first, second = member_client(org, Role.VIEWER), member_client(org, Role.VIEWER)
    key = api_key_client(org, ["members:read"])
    for _ in range(3):
        assert first.get("/api/v1/orgs/xyz/members/").status_code == 200
    refused = first.get("/api/v1/orgs/xyz/members/")
    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/problem+json"
    assert int(refused["Retry-After"]) > 0
    assert second.get("/api/v1/orgs/xyz/members/").status_code == 200
    assert key.get("/api/v1/orgs/xyz/members/").status_code == 200


def test_healthz_answers_without_dependencies(client: Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_checks_database_cache_and_broker(client: Client) -> None:
    body = client.get("/readyz").json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "broker", "outbox"}


def test_readyz_names_the_failing_part(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health.celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["detail"] == "Not ready: broker failing."
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is False


def test_docs_and_schema_are_served_without_a_cdn(client: Client) -> None:
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert schema.json()["openapi"].startswith("3.1")
    page = client.get("/api/v1/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    external = re.findall(r"(?:src|href)=\"(https?://[^\"]+)\"", html)
    assert external == []
    assets = re.findall(r"(?:src|href)=\"(/static/[^\"]+)\"", html)
    assert assets
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        b"".join(response.streaming_content)  # type: ignore[attr-defined]


def test_request_id_is_echoed_or_made(owner: APIClient) -> None:
    supplied = owner.get("/api/v1/orgs/xyz/", HTTP_X_REQUEST_ID="req-abcdef123")
    assert supplied["X-Request-ID"] == "req-abcdef123"
    made = owner.get("/api/v1/orgs/xyz/", HTTP_X_REQUEST_ID="bad id!")
    assert re.fullmatch(r"[0-9a-f]{32}", made["X-Request-ID"])


def test_events_record_the_request_id(owner: APIClient) -> None:
    owner.patch(
        "/api/v1/orgs/xyz/", {"name": "XYZ S.A."}, format="json", HTTP_X_REQUEST_ID="rename-0001"
    )
    events = owner.get("/api/v1/orgs/xyz/events/?type=organisation.updated").json()["results"]
    assert events[0]["request_id"] == "rename-0001"
    assert events[0]["payload"]["changes"]["name"] == {"from": "XYZ", "to": "XYZ S.A."}


def test_event_filters(org: Organisation, owner: APIClient) -> None:
    for _ in range(3):
        make_event(org)
    everything = owner.get("/api/v1/orgs/xyz/events/").json()["results"]
    by_type = owner.get("/api/v1/orgs/xyz/events/?type=test.happened").json()["results"]
    by_prefix = owner.get("/api/v1/orgs/xyz/events/?type=test.*").json()["results"]
    not_a_prefix = owner.get("/api/v1/orgs/xyz/events/?type=tes.*").json()["results"]
    by_actor = owner.get("/api/v1/orgs/xyz/events/?actor_type=system").json()["results"]
    assert len(by_type) == 3
    assert len(by_prefix) == 3
    assert not_a_prefix == []
    assert all(e["actor"]["type"] == "system" for e in by_actor)
    assert [e["seq"] for e in everything] == sorted((e["seq"] for e in everything), reverse=True)
    since = everything[0]["occurred_at"]
    later = owner.get("/api/v1/orgs/xyz/events/", {"occurred_after": since}).json()["results"]
    assert [e["id"] for e in later] == [everything[0]["id"]]


def test_cursor_pagination_walks_every_event_once(org: Organisation, owner: APIClient) -> None:
    for _ in range(7):
        make_event(org)
    seen: list[str] = []
    url: str | None = "/api/v1/orgs/xyz/events/?limit=3"
    while url:
        page = owner.get(url).json()
        assert len(page["results"]) <= 3
        seen += [e["id"] for e in page["results"]]
        url = page["next"]
    assert len(seen) == len(set(seen)) == 7


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "limit=ten", "cursor=bm90LWEtY3Vyc29y%FF"]
)
def test_bad_pagination_parameters_are_400(owner: APIClient, query: str) -> None:
    response = owner.get(f"/api/v1/orgs/xyz/events/?{query}")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("path", ["events", "members", "invitations", "api-keys"])
def test_list_query_counts_do_not_grow_with_the_page(
    org: Organisation, owner: APIClient, path: str
) -> None:
    Organisation.objects.filter(pk=org.pk).update(max_members=100)
    org.refresh_from_db()
    for _ in range(12):
        make_event(org)
        make_membership(org)
        make_invitation(org)
    make_api_key(org)
    make_api_key(org)
    make_api_key(org)
    expected = {"events": 27, "members": 13, "invitations": 12, "api-keys": 3}[path]
    owner.get(f"/api/v1/orgs/xyz/{path}/")  # the credential's first use records last_used_at
    counts = []
    for limit in (2, 30):
        with CaptureQueriesContext(connection) as captured:
            response = owner.get(f"/api/v1/orgs/xyz/{path}/?limit={limit}")
            assert response.status_code == 200
            assert len(response.json()["results"]) == min(limit, expected)
        counts.append(len(captured))
    assert counts[0] == counts[1]


class _Item(StrictInput):
    title = serializers.CharField()
    weight = serializers.IntegerField()


class _Outer(StrictInput):
    name = serializers.CharField()
    items = serializers.ListField(child=_Item(), required=False)
    steps = _Item(many=True, required=False)
    extra = _Item(required=False)


@pytest.mark.parametrize("field", ["items", "steps"])
def test_a_partial_update_still_requires_every_field_of_a_nested_item(field: str) -> None:
    data = _Outer(data={field: [{"title": "x"}]}, partial=True)
    assert not data.is_valid()
    assert "weight" in str(data.errors[field])
    whole = _Outer(data={field: [{"title": "x", "weight": 1}]}, partial=True)
    assert whole.is_valid(), whole.errors  # the root's own required `name` may be left out
    assert whole.validated_data == {field: [{"title": "x", "weight": 1}]}
    assert whole.partial  # restored after the nested validation


def test_a_partial_update_still_requires_every_field_of_a_nested_object() -> None:
    data = _Outer(data={"extra": {"weight": 2}}, partial=True)
    assert not data.is_valid()
    assert "title" in str(data.errors["extra"])


def test_input_integers_are_bounded_to_a_database_column() -> None:
    data = _Outer(data={"name": "n", "items": [{"title": "x", "weight": 10**15}]})
    assert not data.is_valid()
    assert "2147483647" in str(data.errors["items"])
    assert _Outer(data={"name": "n", "extra": {"title": "x", "weight": -(2**31)}}).is_valid()
