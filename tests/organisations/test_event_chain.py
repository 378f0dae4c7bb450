"""The event log's hash chain: every edit, deletion or reordering is detected and the first
broken link named; the database itself refuses updates and deletes on PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, connections, transaction
from rest_framework.test import APIClient

from organisations.events import Actor, event_chain_verify, event_record
from organisations.models import Event, Organisation
from tests.factories import OrganisationFactory

pytestmark = pytest.mark.django_db


def append(organisation: Organisation, n: int) -> list[Event]:
    events = []
    for i in range(n):
        with transaction.atomic():
            events.append(
                event_record(
                    organisation=organisation,
                    actor=Actor.system("tests"),
                    type="test.happened",
                    subject=("thing", str(i)),
                    payload={"i": i, "text": "zażółć gęślą jaźń", "nested": {"b": [1, 2.5]}},
                )
            )
    return events


@pytest.fixture
def chain(org: Organisation) -> list[Event]:
    return append(org, 6)


def tamper(sql: str, params: list[object]) -> None:
    """Change rows as a database superuser would: with the append-only trigger off."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")  # superuser: triggers off
        try:
            cursor.execute(sql, params)
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")


def test_an_intact_chain_verifies(org: Organisation, chain: list[Event]) -> None:
    report = event_chain_verify(organisation=org)
    assert report.ok
    assert report.checked == report.head_seq == 6


def test_an_edited_payload_is_detected_at_its_link(org: Organisation, chain: list[Event]) -> None:
    tamper("UPDATE organisations_event SET payload = %s WHERE id = %s", ['{"i": 99}', chain[2].id])
    report = event_chain_verify(organisation=org)
    assert not report.ok
    assert report.broken_seq == 3
    assert report.broken_event_id == str(chain[2].id)
    assert "hash" in report.reason


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(
    org: Organisation, chain: list[Event]
) -> None:
    tamper("UPDATE organisations_event SET hash = %s WHERE id = %s", ["f" * 64, chain[1].id])
    report = event_chain_verify(organisation=org)
    assert not report.ok
    assert report.broken_seq == 2


def test_a_deleted_event_is_detected(org: Organisation, chain: list[Event]) -> None:
    tamper("DELETE FROM organisations_event WHERE id = %s", [chain[3].id])
    report = event_chain_verify(organisation=org)
    assert not report.ok
    assert report.broken_seq == 4
    assert "missing" in report.reason


def test_a_deleted_tail_is_detected_against_the_head(org: Organisation, chain: list[Event]) -> None:
    tamper("DELETE FROM organisations_event WHERE id = %s", [chain[-1].id])
    report = event_chain_verify(organisation=org)
    assert not report.ok
    assert report.broken_seq == 6


def test_reordered_events_are_detected(org: Organisation, chain: list[Event]) -> None:
    a, b = chain[1], chain[4]
    tamper(
        "UPDATE organisations_event SET seq = CASE id WHEN %s THEN %s WHEN %s THEN %s END "
        "WHERE id IN (%s, %s)",
        [a.id, 1000, b.id, 1001, a.id, b.id],
    )
    tamper("UPDATE organisations_event SET seq = %s WHERE id = %s", [b.seq, a.id])
    tamper("UPDATE organisations_event SET seq = %s WHERE id = %s", [a.seq, b.id])
    report = event_chain_verify(organisation=org)
    assert not report.ok
    assert report.broken_seq == 2


def test_the_database_refuses_updates_and_deletes(chain: list[Event]) -> None:
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Event.all_tenants.filter(pk=chain[0].pk).update(type="forged")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Event.all_tenants.filter(pk=chain[0].pk).delete()


def test_the_outbox_column_may_still_change(chain: list[Event]) -> None:
    from django.utils import timezone

    Event.all_tenants.filter(pk=chain[0].pk).update(dispatched_at=timezone.now())


def test_events_must_be_recorded_inside_the_change_transaction(fresh_org: Organisation) -> None:
    with pytest.raises(RuntimeError, match="transaction"):
        event_record(
            organisation=fresh_org, actor=Actor.system(), type="x", subject=("a", "b"), payload={}
        )


def test_chains_are_per_organisation(org: Organisation, other_org: Organisation) -> None:
    append(org, 3)
    append(other_org, 2)
    tamper(
        "UPDATE organisations_event SET type = 'x' WHERE organisation_id = %s AND seq = 1",
        [other_org.pk],
    )
    assert event_chain_verify(organisation=org).ok
    assert not event_chain_verify(organisation=other_org).ok


def test_verify_endpoint_reports_the_first_broken_link(
    org: Organisation, chain: list[Event], admin: APIClient
) -> None:
    assert admin.get("/api/v1/orgs/xyz/events/verify/").json()["ok"] is True
    tamper("UPDATE organisations_event SET actor_label = 'mallory' WHERE id = %s", [chain[4].id])
    body = admin.get("/api/v1/orgs/xyz/events/verify/").json()
    assert body["ok"] is False
    assert body["broken_seq"] == 5
    assert body["broken_event_id"] == str(chain[4].id)


def test_verify_command_fails_on_a_broken_chain(org: Organisation, chain: list[Event]) -> None:
    call_command("verify_event_chain", org="xyz")
    tamper("UPDATE organisations_event SET subject_id = 'x' WHERE id = %s", [chain[0].id])
    with pytest.raises(CommandError):
        call_command("verify_event_chain", org="xyz")


@pytest.fixture
def fresh_org(transactional_db: None) -> Organisation:
    return OrganisationFactory(slug="concurrent")


def test_concurrent_appends_stay_one_contiguous_chain(fresh_org: Organisation) -> None:
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            append(fresh_org, 10)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    report = event_chain_verify(organisation=fresh_org)
    assert report.ok
    assert report.checked == 40
