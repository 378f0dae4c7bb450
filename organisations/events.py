"""The event log: append an event in the caller's transaction, and verify a chain link by link."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone
from django_scopes import scopes_disabled

from crisis_api.context import current_request_id
from organisations.models import ApiKey, Event, EventChainHead, Organisation, User

GENESIS_HASH = "0" * 64


@dataclass(frozen=True, slots=True)
class Actor:
    """Who caused a change: a user, an API key, or the system (sweepers, tasks)."""

    type: str
    id: str = ""
    label: str = ""

    @classmethod
    def of_user(cls, user: User) -> Actor:
        return cls(Event.ActorType.USER, str(user.pk), user.email)

    @classmethod
    def of_api_key(cls, key: ApiKey) -> Actor:
        return cls(Event.ActorType.API_KEY, str(key.pk), f"{key.name} ({key.prefix})")

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(Event.ActorType.SYSTEM, "", label)

    @property
    def user_id(self) -> str | None:
        return self.id if self.type == Event.ActorType.USER else None


def subject_of(obj: models.Model) -> tuple[str, str]:
    """The (type, id) naming a model instance as an event subject, e.g. ("membership", "…")."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(obj).__name__).lower(), str(obj.pk)


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _normalise_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """Round-trip through JSON so the stored payload and the hashed one are the same value."""
    normalised: dict[str, Any] = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
    return normalised


def _format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(event: Event) -> str:
    """SHA-256 over every covered column and the previous link's hash."""
    material = {
        "organisation": str(event.organisation_id),
        "seq": event.seq,
        "id": str(event.id),
        "type": event.type,
        "occurred_at": _format_time(event.occurred_at),
        "actor": [event.actor_type, event.actor_id, event.actor_label],
        "subject": [event.subject_type, event.subject_id],
        "payload": event.payload,
        "request_id": event.request_id,
        "prev_hash": event.prev_hash,
    }
    return hashlib.sha256(_canonical_json(material).encode()).hexdigest()


def event_record(
    *,
    organisation: Organisation,
    actor: Actor,
    type: str,
    subject: tuple[str, str],
    payload: dict[str, Any] | None = None,
) -> Event:
    """Append one event to the organisation's chain, inside the caller's transaction.

    Refuses to run outside a transaction: an event must commit or roll back with its change.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("event_record must be called inside the state change's transaction")
    with scopes_disabled():
        head, _ = EventChainHead.objects.select_for_update().get_or_create(
            organisation=organisation
        )
    now = timezone.now()
    event = Event(
        organisation=organisation,
        seq=head.seq + 1,
        type=type,
        occurred_at=now,
        actor_type=actor.type,
        actor_id=actor.id,
        actor_label=actor.label,
        subject_type=subject[0],
        subject_id=subject[1],
        payload=_normalise_payload(payload or {}),
        request_id=current_request_id(),
        prev_hash=head.hash or GENESIS_HASH,
    )
    event.hash = event_hash(event)
    event.save(force_insert=True)
    head.seq, head.hash = event.seq, event.hash
    head.save(update_fields=("seq", "hash"))
    for subscriber in (*_subscribers.get(type, ()), *_subscribers.get("*", ())):
        subscriber(event, actor)
    return event


Subscriber = Callable[[Event, Actor], None]
_subscribers: dict[str, list[Subscriber]] = {}


def event_subscribe(type: str, subscriber: Subscriber) -> None:
    """Run `subscriber(event, actor)` whenever an event of `type` is recorded, in the same
    transaction. This is how an app reacts to another's change without the actor importing
    it (e.g. incidents seeding its configuration when an organisation is created). `"*"`
    subscribes to every type (the outbox relay's after-commit wake-up)."""
    handlers = _subscribers.setdefault(type, [])
    if subscriber not in handlers:
        handlers.append(subscriber)


@dataclass(frozen=True, slots=True)
class ChainReport:
    """Outcome of walking one organisation's chain; names the first broken link if any."""

    ok: bool
    checked: int
    head_seq: int
    broken_seq: int | None = None
    broken_event_id: str | None = None
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "head_seq": self.head_seq,
            "broken_seq": self.broken_seq,
            "broken_event_id": self.broken_event_id,
            "reason": self.reason,
        }


def _chain_rows(organisation: Organisation) -> Iterator[Event]:
    return Event.all_tenants.filter(organisation=organisation).order_by("seq").iterator(2000)


def event_chain_verify(*, organisation: Organisation) -> ChainReport:
    """Walk the chain in order; report the first gap, reordering, edit or missing tail."""
    head = EventChainHead.objects.filter(organisation=organisation).first()
    head_seq, head_hash = (head.seq, head.hash) if head else (0, "")
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0

    def broken(event: Event | None, seq: int, reason: str) -> ChainReport:
        return ChainReport(
            ok=False,
            checked=checked,
            head_seq=head_seq,
            broken_seq=seq,
            broken_event_id=str(event.id) if event else None,
            reason=reason,
        )

    for event in _chain_rows(organisation):
        if event.seq != expected_seq:
            return broken(event, expected_seq, f"event #{expected_seq} is missing")
        if event.prev_hash != prev_hash:
            return broken(event, event.seq, "does not link to the previous event")
        if event_hash(event) != event.hash:
            return broken(event, event.seq, "content does not match its hash")
        prev_hash, expected_seq, checked = event.hash, expected_seq + 1, checked + 1
    if checked != head_seq or (head_seq and prev_hash != head_hash):
        return broken(None, checked + 1, f"chain ends at #{checked} but its head is #{head_seq}")
    return ChainReport(ok=True, checked=checked, head_seq=head_seq)


EventFilter = Callable[[Any, Organisation, User | None, str | None], Any]
_visibility_filters: list[EventFilter] = []


def event_visibility_register(event_filter: EventFilter) -> None:
    """Let an app hide events about objects a reader may not see (e.g. restricted incidents).
    `event_filter(queryset, organisation, user, role)` returns the narrowed queryset."""
    if event_filter not in _visibility_filters:
        _visibility_filters.append(event_filter)


def events_visible(
    queryset: Any, *, organisation: Organisation, user: User | None, role: str | None
) -> Any:
    """The event log as this reader may see it."""
    for event_filter in _visibility_filters:
        queryset = event_filter(queryset, organisation, user, role)
    return queryset
