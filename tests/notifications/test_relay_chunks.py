"""A large fan-out is committed ahead of its event: the relay inserts the notifications in
chunks on a second connection (every recipient's first method first) and wakes the delivery
workers after the first chunk, while its own transaction holds the events and marks them
dispatched only at the end. A relay that dies half-way loses nothing and sends nothing twice;
another relay meanwhile leaves the batch alone."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import DatabaseError, connection, connections

from notifications import planner, relay
from notifications.models import (
    Escalation,
    EscalationLevel,
    EscalationPolicy,
    Notification,
    NotificationRule,
    WebhookMessage,
)
from organisations.models import Event, Organisation, Role
from tests.factories import (
    make_contact_method,
    make_incident,
    make_membership,
    make_webhook_endpoint,
)

pytestmark = pytest.mark.django_db(transaction=True)
MEMBERS = 4  # two contact methods each: 8 notifications, chunks of 3


@pytest.fixture(autouse=True)
def small_chunks(settings: Any, org: Organisation) -> None:
    settings.RELAY_CHUNK_NOTIFICATIONS = 3
    for _ in range(MEMBERS):
        user = make_membership(org, Role.RESPONDER).user
        methods = [make_contact_method(org, user) for _ in range(2)]
        NotificationRule.all_tenants.create(
            organisation=org, user=user, contact_methods=[str(m.pk) for m in methods]
        )
    relay.outbox_relay()  # what setting up the organisation logged


def declared_dispatched() -> bool:
    event = Event.all_tenants.get(type="incident.declared")
    return event.dispatched_at is not None


def committed_view() -> tuple[list[int], int]:
    """What another connection sees: positions of the notifications, undispatched events."""
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT position FROM notifications_notification ORDER BY position")
            positions = [row[0] for row in cursor.fetchall()]
            cursor.execute(
                "SELECT count(*) FROM organisations_event WHERE dispatched_at IS NULL"
                " AND type = 'incident.declared'"
            )
            undispatched = cursor.fetchone()[0]
    finally:
        other.close()
    return positions, undispatched


def test_chunks_are_committed_ahead_first_methods_first(
    org: Organisation, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_incident(org)
    seen: list[tuple[list[int], int]] = []
    monkeypatch.setattr(relay, "wake_notifications", lambda: seen.append(committed_view()))

    relay.outbox_relay()

    # woken after the first chunk, while the event was still undispatched
    assert seen[0] == ([0, 0, 0], 1)
    # and again after the relay's commit, with everything planned
    assert seen[-1] == ([0] * MEMBERS + [1] * MEMBERS, 0)
    assert Notification.all_tenants.count() == 2 * MEMBERS
    assert declared_dispatched()


def test_a_relay_failing_half_way_loses_nothing_and_plans_nothing_twice(
    org: Organisation, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = EscalationPolicy.all_tenants.create(organisation=org, name="Pager")
    EscalationLevel.all_tenants.create(
        organisation=org, policy=policy, position=0, organisation_roles=["responder"]
    )
    make_webhook_endpoint(org)
    make_incident(org)
    real = planner.insert_columns
    calls: list[int] = []

    def failing(*args: Any, **kwargs: Any) -> int:
        calls.append(1)
        if len(calls) == 2:
            raise DatabaseError("the server closed the connection")
        return real(*args, **kwargs)

    monkeypatch.setattr(planner, "insert_columns", failing)
    with pytest.raises(DatabaseError):
        relay.outbox_relay()

    assert Notification.all_tenants.count() == 3  # the first chunk stays committed
    assert not declared_dispatched()  # so the event is planned again
    assert Escalation.all_tenants.count() == 0
    assert WebhookMessage.all_tenants.filter(event_type="incident.declared").count() == 0

    monkeypatch.setattr(planner, "insert_columns", real)
    relay.outbox_relay()

    rows = Notification.all_tenants.filter(escalation=None)
    assert rows.count() == 2 * MEMBERS
    assert rows.values("recipient_id", "contact_method_id").distinct().count() == 2 * MEMBERS
    assert Escalation.all_tenants.count() == 1
    assert WebhookMessage.all_tenants.filter(event_type="incident.declared").count() == 1
    assert declared_dispatched()


def test_another_relay_leaves_the_batch_being_planned_alone(
    org: Organisation, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_incident(org)
    others: list[int] = []

    def other_relay() -> None:
        try:
            others.append(relay.outbox_relay())
        finally:
            connection.close()

    def wake() -> None:
        if not others:  # first chunk committed: a second relay runs meanwhile
            thread = threading.Thread(target=other_relay)
            thread.start()
            thread.join(timeout=30)

    monkeypatch.setattr(relay, "wake_notifications", wake)
    relay.outbox_relay()

    assert others == [0]  # the event was held by the first relay: nothing to dispatch
    assert Notification.all_tenants.count() == 2 * MEMBERS
    assert declared_dispatched()


def test_inside_a_callers_transaction_everything_commits_together(org: Organisation) -> None:
    from django.db import transaction

    make_incident(org)
    with transaction.atomic():
        relay.outbox_relay()
        assert committed_view() == ([], 1)  # nothing ahead: no second connection is used
    assert Notification.all_tenants.count() == 2 * MEMBERS
