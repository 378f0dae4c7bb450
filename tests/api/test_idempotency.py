"""Idempotency-Key on POST: replay, mismatch, in flight, retention, credential scope, and
parallel duplicates producing exactly one object and one event."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import connections
from django.utils import timezone
from rest_framework.test import APIClient

from crisis_api.api.idempotency import idempotency_purge
from crisis_api.api.models import IdempotencyRecord
from organisations.models import ApiKey, Event, Invitation, Organisation, Role
from tests.conftest import client_for
from tests.factories import MembershipFactory

URL = "/api/v1/orgs/xyz/invitations/"
BODY = {"email": "ingest@example.test", "role": "responder"}


def post(client: APIClient, key: str, body: dict[str, Any] | None = None) -> Any:
    return client.post(URL, body or BODY, format="json", HTTP_IDEMPOTENCY_KEY=key)


def keys_named(name: str) -> int:
    """Invitations created for `<name>@example.test`."""
    return Invitation.all_tenants.filter(email=f"{name}@example.test").count()


@pytest.mark.django_db
def test_same_key_and_body_replays_the_first_response(admin: APIClient) -> None:
    first = post(admin, "k-1")
    second = post(admin, "k-1")
    assert first.status_code == second.status_code == 201
    assert second.content == first.content  # byte-identical
    assert second["Idempotency-Replayed"] == "true"
    assert keys_named("ingest") == 1
    assert Event.all_tenants.filter(type="invitation.created").count() == 1


@pytest.mark.django_db
def test_same_key_with_another_body_is_422(admin: APIClient) -> None:
    post(admin, "k-2")
    response = post(admin, "k-2", {"email": "other@example.test", "role": "responder"})
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert keys_named("other") == 0


@pytest.mark.django_db
def test_a_request_still_in_flight_is_409(admin: APIClient) -> None:
    post(admin, "k-3")
    record = IdempotencyRecord.objects.get(key="k-3")
    record.completed_at = None
    record.locked_until = timezone.now() + timedelta(seconds=30)
    record.save()
    response = post(admin, "k-3")
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_in_flight"
    assert keys_named("ingest") == 1


@pytest.mark.django_db
def test_an_abandoned_claim_is_taken_over(admin: APIClient) -> None:
    post(admin, "k-4")
    Invitation.all_tenants.all().delete()
    IdempotencyRecord.objects.filter(key="k-4").update(
        completed_at=None, locked_until=timezone.now() - timedelta(seconds=1)
    )
    assert post(admin, "k-4").status_code == 201
    assert keys_named("ingest") == 1


@pytest.mark.django_db
def test_keys_are_kept_at_least_24_hours_then_expire(admin: APIClient) -> None:
    first = post(admin, "k-5")
    with time_machine.travel(timezone.now() + timedelta(hours=47)):
        assert post(admin, "k-5").content == first.content
        assert keys_named("ingest") == 1
    Invitation.all_tenants.all().delete()  # so the same invitation may be created again
    with time_machine.travel(timezone.now() + timedelta(hours=49)):
        assert idempotency_purge() == 1
        assert post(admin, "k-5").status_code == 201
    assert keys_named("ingest") == 1
    assert Event.all_tenants.filter(type="invitation.created").count() == 2


@pytest.mark.django_db
def test_keys_are_scoped_to_the_credential(org: Organisation, admin: APIClient) -> None:
    other_admin = client_for(MembershipFactory(organisation=org, role=Role.ADMIN).user)
    assert post(admin, "shared").status_code == 201
    response = post(other_admin, "shared", {"email": "second@example.test", "role": "viewer"})
    assert response.status_code == 201
    assert "Idempotency-Replayed" not in response
    assert keys_named("ingest") == keys_named("second") == 1


@pytest.mark.django_db
def test_failed_requests_are_not_stored(admin: APIClient) -> None:
    bad = post(admin, "k-6", {"email": "x@example.test", "role": "king"})
    assert bad.status_code == 400
    assert not IdempotencyRecord.objects.filter(key="k-6").exists()
    assert post(admin, "k-6", {"email": "x@example.test", "role": "king"}).status_code == 400


@pytest.mark.django_db
def test_malformed_keys_are_refused(admin: APIClient) -> None:
    response = post(admin, "x" * 256)
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "Idempotency-Key"


@pytest.mark.django_db(transaction=True)
def test_parallel_duplicates_create_exactly_one_object_and_one_event(
    org: Organisation, member_client: Callable[..., APIClient]
) -> None:
    admin = member_client(org, Role.ADMIN)
    header = admin._credentials["HTTP_AUTHORIZATION"]
    results: list[tuple[int, bytes]] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=header)
        barrier.wait()
        try:
            response = post(client, "parallel")
            results.append((response.status_code, response.content))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(results) == 8
    assert keys_named("ingest") == 1
    assert Event.all_tenants.filter(type="invitation.created").count() == 1
    created = [content for status, content in results if status == 201]
    assert created
    assert all(content == created[0] for content in created)
    assert {status for status, _ in results} <= {201, 409}


@pytest.mark.django_db
def test_one_time_secrets_are_never_stored_nor_replayed(admin: APIClient) -> None:
    body = {"name": "ci", "scopes": ["events:read"]}
    first = admin.post("/api/v1/orgs/xyz/api-keys/", body, format="json", HTTP_IDEMPOTENCY_KEY="s")
    secret = first.json()["secret"]
    record = IdempotencyRecord.objects.get(key="s")
    assert secret.encode() not in bytes(record.content)
    replay = admin.post("/api/v1/orgs/xyz/api-keys/", body, format="json", HTTP_IDEMPOTENCY_KEY="s")
    assert replay.status_code == 409
    assert replay.json()["code"] == "idempotent_replay_withheld"
    assert replay.json()["resource"]["id"] == first.json()["id"]
    assert secret not in replay.content.decode()
    assert ApiKey.all_tenants.count() == 1
