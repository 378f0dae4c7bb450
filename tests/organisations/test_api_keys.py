"""API keys: the secret is shown once, scopes are enforced, revoked and expired keys are refused,
keys never reach another tenant, use is recorded, the plan limit holds, and the log records it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import time_machine
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.test import APIClient

from organisations.models import ApiKey, Event, Organisation
from organisations.secrets import hash_secret
from tests.conftest import api_key_of, client_for_key, membership_of
from tests.problems import assert_problem

KEYS = "/api/v1/orgs/xyz/api-keys/"
EVENTS = "/api/v1/orgs/xyz/events/"
MEMBERS = "/api/v1/orgs/xyz/members/"
ALL_SCOPES = ["events:read", "members:read", "organisation:read"]

KeyClient = Callable[[Organisation, list[str]], APIClient]


def create_key(client: APIClient, **fields: Any) -> Response:
    body = {"name": "CI", "scopes": ["events:read"], **fields}
    return client.post(KEYS, body, format="json")  # type: ignore[no-any-return]


def events_of(organisation: Organisation, type: str) -> list[Event]:
    return list(Event.all_tenants.filter(organisation=organisation, type=type))


# --- The secret ---------------------------------------------------------------------------------


def test_create_response_shows_the_secret_and_it_works(owner: APIClient, org: Organisation) -> None:
    response = create_key(owner)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["secret"].startswith(f"cak_{body['prefix']}_")
    assert body["scopes"] == ["events:read"]
    assert body["status"] == "active"
    stored = ApiKey.all_tenants.get(pk=body["id"])
    assert stored.key_hash == hash_secret(body["secret"])
    assert client_for_key(body["secret"]).get(EVENTS).status_code == 200


def test_list_and_retrieve_never_show_the_secret_or_its_hash(owner: APIClient) -> None:
    created = create_key(owner).json()
    stored = ApiKey.all_tenants.get(pk=created["id"])

    listed = owner.get(KEYS)
    retrieved = owner.get(f"{KEYS}{created['id']}/")

    assert listed.status_code == retrieved.status_code == 200
    assert [item["id"] for item in listed.json()["results"]] == [created["id"]]
    for response, item in ((listed, listed.json()["results"][0]), (retrieved, retrieved.json())):
        assert "secret" not in item
        assert "key_hash" not in item
        assert created["secret"].encode() not in response.content
        assert stored.key_hash.encode() not in response.content
        assert item["prefix"] == created["prefix"]


def test_revoke_response_does_not_show_the_secret(owner: APIClient) -> None:
    created = create_key(owner).json()

    response = owner.post(f"{KEYS}{created['id']}/revoke/")

    assert response.status_code == 200
    assert "secret" not in response.json()
    assert created["secret"].encode() not in response.content


# --- Scopes -------------------------------------------------------------------------------------


def test_key_with_events_scope_lists_events(api_key_client: KeyClient, org: Organisation) -> None:
    client = api_key_client(org, ["events:read"])

    response = client.get(EVENTS)

    assert response.status_code == 200
    assert "api_key.created" in {event["type"] for event in response.json()["results"]}


def test_key_without_members_scope_gets_403_on_members(
    api_key_client: KeyClient, org: Organisation
) -> None:
    client = api_key_client(org, ["events:read"])

    assert_problem(client.get(MEMBERS), 403)


def test_key_with_members_scope_lists_members(
    api_key_client: KeyClient, org: Organisation, owner: APIClient
) -> None:
    client = api_key_client(org, ["members:read"])

    response = client.get(MEMBERS)

    assert response.status_code == 200
    assert [m["id"] for m in response.json()["results"]] == [str(membership_of(owner).id)]


def test_no_key_can_create_api_keys(api_key_client: KeyClient, org: Organisation) -> None:
    client = api_key_client(org, ALL_SCOPES)

    response = create_key(client, scopes=ALL_SCOPES)

    assert_problem(response, 403)
    assert ApiKey.all_tenants.filter(organisation=org).count() == 1


def test_no_key_can_list_or_revoke_api_keys(api_key_client: KeyClient, org: Organisation) -> None:
    client = api_key_client(org, ALL_SCOPES)
    key = api_key_of(client)

    assert_problem(client.get(KEYS), 403)
    assert_problem(client.post(f"{KEYS}{key.id}/revoke/"), 403)
    key.refresh_from_db()
    assert key.revoked_at is None


def test_members_below_admin_cannot_create_keys(responder: APIClient, org: Organisation) -> None:
    assert_problem(create_key(responder), 403)
    assert not ApiKey.all_tenants.filter(organisation=org).exists()


def test_unknown_scope_is_400(owner: APIClient, org: Organisation) -> None:
    response = create_key(owner, scopes=["incidents:destroy"])

    body = assert_problem(response, 400)
    assert [error["attr"] for error in body["errors"]] == ["scopes.0"]
    assert not ApiKey.all_tenants.filter(organisation=org).exists()


# --- Revoked, expired, foreign ------------------------------------------------------------------


def test_revoked_key_gets_401(owner: APIClient) -> None:
    created = create_key(owner).json()
    client = client_for_key(created["secret"])
    assert client.get(EVENTS).status_code == 200

    assert owner.post(f"{KEYS}{created['id']}/revoke/").status_code == 200

    response = client.get(EVENTS)
    assert_problem(response, 401, "api_key_revoked")
    assert "Bearer" in response["WWW-Authenticate"]


def test_expired_key_gets_401(owner: APIClient) -> None:
    expires_at = timezone.now() + timedelta(hours=1)
    created = create_key(owner, expires_at=expires_at.isoformat()).json()
    client = client_for_key(created["secret"])
    assert client.get(EVENTS).status_code == 200

    with time_machine.travel(expires_at + timedelta(seconds=1), tick=False):
        response = client.get(EVENTS)
        listed = owner.get(f"{KEYS}{created['id']}/")

    assert_problem(response, 401, "api_key_expired")
    assert listed.json()["status"] == "expired"


def test_key_with_expiry_in_the_past_is_refused(owner: APIClient, org: Organisation) -> None:
    response = create_key(owner, expires_at=(timezone.now() - timedelta(hours=1)).isoformat())

    assert_problem(response, 400)
    assert not ApiKey.all_tenants.filter(organisation=org).exists()


def test_wrong_secret_with_a_real_prefix_gets_401(owner: APIClient) -> None:
    created = create_key(owner).json()
    forged = f"cak_{created['prefix']}_{'A' * 43}"

    assert_problem(client_for_key(forged).get(EVENTS), 401, "invalid_api_key")


def test_another_orgs_key_on_this_orgs_url_gets_404(
    api_key_client: KeyClient, org: Organisation, other_org: Organisation
) -> None:
    client = api_key_client(other_org, ALL_SCOPES)

    assert_problem(client.get(EVENTS), 404)
    assert_problem(client.get(MEMBERS), 404)
    assert client.get("/api/v1/orgs/other/events/").status_code == 200


def test_another_orgs_key_is_404_when_revoked_by_this_org(
    owner: APIClient, api_key_client: KeyClient, other_org: Organisation
) -> None:
    foreign = api_key_of(api_key_client(other_org, ["events:read"]))

    assert_problem(owner.post(f"{KEYS}{foreign.id}/revoke/"), 404)
    foreign.refresh_from_db()
    assert foreign.revoked_at is None


# --- Use, limits, the log -----------------------------------------------------------------------


def test_last_used_at_is_recorded(api_key_client: KeyClient, org: Organisation) -> None:
    client = api_key_client(org, ["events:read"])
    key = api_key_of(client)
    assert key.last_used_at is None

    client.get(EVENTS)

    key.refresh_from_db()
    assert key.last_used_at is not None
    assert abs((timezone.now() - key.last_used_at).total_seconds()) < 60


def test_last_used_at_is_refreshed_at_most_once_a_minute(
    api_key_client: KeyClient, org: Organisation
) -> None:
    client = api_key_client(org, ["events:read"])
    key = api_key_of(client)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.get(EVENTS)
    with time_machine.travel(start + timedelta(seconds=30), tick=False):
        client.get(EVENTS)
    key.refresh_from_db()
    assert key.last_used_at == start

    with time_machine.travel(start + timedelta(minutes=2), tick=False):
        client.get(EVENTS)

    key.refresh_from_db()
    assert key.last_used_at == start + timedelta(minutes=2)


def test_plan_limit_on_api_keys_is_409(owner: APIClient, org: Organisation) -> None:
    org.max_api_keys = 2
    org.save(update_fields=["max_api_keys"])
    assert create_key(owner, name="one").status_code == 201
    assert create_key(owner, name="two").status_code == 201
    events_before = Event.all_tenants.filter(organisation=org).count()

    response = create_key(owner, name="three")

    assert_problem(response, 409, "plan_limit_exceeded")
    assert ApiKey.all_tenants.filter(organisation=org).count() == 2
    assert Event.all_tenants.filter(organisation=org).count() == events_before


def test_revoked_keys_free_their_place_under_the_limit(owner: APIClient, org: Organisation) -> None:
    org.max_api_keys = 1
    org.save(update_fields=["max_api_keys"])
    first = create_key(owner).json()
    owner.post(f"{KEYS}{first['id']}/revoke/")

    assert create_key(owner, name="replacement").status_code == 201


def test_key_creation_is_recorded_in_the_event_log(owner: APIClient, org: Organisation) -> None:
    created = create_key(owner).json()

    [event] = events_of(org, "api_key.created")
    assert event.subject_type == "api_key"
    assert event.subject_id == created["id"]
    assert event.actor_type == Event.ActorType.USER
    assert event.actor_id == str(membership_of(owner).user_id)
    assert event.payload["prefix"] == created["prefix"]
    assert created["secret"] not in str(event.payload)


def test_key_revocation_is_recorded_once_in_the_event_log(
    owner: APIClient, org: Organisation
) -> None:
    created = create_key(owner).json()

    owner.post(f"{KEYS}{created['id']}/revoke/")
    again = owner.post(f"{KEYS}{created['id']}/revoke/")

    assert again.status_code == 200
    assert again.json()["status"] == "revoked"
    [event] = events_of(org, "api_key.revoked")
    assert event.subject_id == created["id"]
    assert event.actor_id == str(membership_of(owner).user_id)
