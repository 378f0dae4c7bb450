"""Playbooks: edit drafts, publish immutable versions, review reminders (once per lapse)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from crisis_api.api.errors import ConflictError, DomainError
from incidents.models import CrisisType
from organisations.events import Actor, event_record
from organisations.models import Membership, Organisation, User
from playbooks.contents import CONTENT_FIELDS, content_hash, contents_validate
from playbooks.models import Playbook, PlaybookVersion

EDITABLE_FIELDS = (
    "name",
    "description",
    "owner",
    "crisis_types",
    "min_severity_rank",
    "auto_start",
    "review_period_days",
    *CONTENT_FIELDS,
)


def playbook_ref(playbook: Playbook) -> dict[str, Any]:
    return {"id": str(playbook.pk), "name": playbook.name}


def _json(value: Any) -> Any:
    """The value as stored in a JSON column (datetimes as ISO strings), so drafts and
    versions compare equal when they say the same thing."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def _record(playbook: Playbook, actor: Actor, type: str, payload: dict[str, Any]) -> None:
    event_record(
        organisation=playbook.organisation,
        actor=actor,
        type=type,
        subject=("playbook", str(playbook.pk)),
        payload={"playbook": playbook_ref(playbook), **payload},
    )


def _check_owner(organisation_id: Any, owner: User | None) -> None:
    if (
        owner is not None
        and not Membership.all_tenants.filter(organisation_id=organisation_id, user=owner).exists()
    ):
        raise DomainError("The owner must be a member of the organisation.")


def _check_crisis_types(organisation_id: Any, crisis_types: list[CrisisType]) -> None:
    if any(t.organisation_id != organisation_id for t in crisis_types):
        raise DomainError("Crisis types must be the organisation's own.")


def crisis_type_ids_of(playbook: Playbook) -> list[str]:
    """The draft's crisis types (through the link table: CrisisType's default manager is
    tenant-scoped, and services also run outside a request's scope)."""
    links = Playbook.crisis_types.through.objects.filter(playbook_id=playbook.pk)
    return sorted(str(pk) for pk in links.values_list("crisistype_id", flat=True))


def _set_crisis_types(playbook: Playbook, crisis_types: list[CrisisType]) -> None:
    through = Playbook.crisis_types.through
    through.objects.filter(playbook_id=playbook.pk).delete()
    through.objects.bulk_create(
        through(playbook_id=playbook.pk, crisistype_id=t.pk) for t in set(crisis_types)
    )


def playbook_document(
    playbook: Playbook, crisis_type_ids: list[str] | None = None
) -> dict[str, Any]:
    """What publishing freezes: conditions and contents, in their stored (JSON) form."""
    if crisis_type_ids is None:
        crisis_type_ids = crisis_type_ids_of(playbook)
    return {
        "name": playbook.name,
        "description": playbook.description,
        "crisis_type_ids": sorted(crisis_type_ids),
        "min_severity_rank": playbook.min_severity_rank,
        **{name: _json(getattr(playbook, name)) for name in CONTENT_FIELDS},
    }


def version_document(version: PlaybookVersion) -> dict[str, Any]:
    return {
        "name": version.name,
        "description": version.description,
        "crisis_type_ids": sorted(version.crisis_type_ids),
        "min_severity_rank": version.min_severity_rank,
        **{name: getattr(version, name) for name in CONTENT_FIELDS},
    }


def _save(playbook: Playbook) -> None:
    try:
        with transaction.atomic():
            playbook.save()
    except IntegrityError as exc:
        raise ConflictError("Another playbook of the organisation has this name.") from exc


@transaction.atomic
def playbook_create(
    *,
    organisation: Organisation,
    actor: Actor,
    name: str,
    crisis_types: list[CrisisType] | None = None,
    owner: User | None = None,
    **fields: Any,
) -> Playbook:
    """Create a playbook as a draft (nothing runs until it is published)."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise DomainError(f"Not part of a playbook: {', '.join(sorted(unknown))}.")
    crisis_types = list(crisis_types or [])
    _check_owner(organisation.pk, owner)
    _check_crisis_types(organisation.pk, crisis_types)
    contents = {name: _json(fields.pop(name, [])) for name in CONTENT_FIELDS}
    contents_validate(contents)
    playbook = Playbook(
        organisation=organisation,
        name=name,
        owner=owner,
        created_by_id=actor.user_id,
        **contents,
        **fields,
    )
    _save(playbook)
    _set_crisis_types(playbook, crisis_types)
    _record(playbook, actor, "playbook.created", {"steps": len(playbook.steps)})
    return playbook


def lock_playbook(playbook: Playbook) -> Playbook:
    return (
        Playbook.all_tenants.select_for_update(of=("self",))
        .select_related("organisation", "current_version")
        .get(pk=playbook.pk)
    )


@transaction.atomic
def playbook_update(*, playbook: Playbook, actor: Actor, **fields: Any) -> Playbook:
    """Edit the draft. A published playbook keeps its versions: the edit is a new draft, to be
    published as the next version (runs keep the version they started with)."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise DomainError(f"Not editable: {', '.join(sorted(unknown))}.")
    playbook = lock_playbook(playbook)
    _check_owner(playbook.organisation_id, fields.get("owner"))
    crisis_types = fields.pop("crisis_types", None)
    old_type_ids = crisis_type_ids_of(playbook)
    changed = []
    for name, value in fields.items():
        value = _json(value) if name in CONTENT_FIELDS else value
        if getattr(playbook, name) != value:
            setattr(playbook, name, value)
            changed.append(name)
    new_type_ids = old_type_ids
    if crisis_types is not None:
        _check_crisis_types(playbook.organisation_id, crisis_types)
        new_type_ids = sorted(str(t.pk) for t in crisis_types)
        if new_type_ids != old_type_ids:
            _set_crisis_types(playbook, crisis_types)
            changed.append("crisis_types")
    if not changed:
        return playbook
    contents_validate({name: getattr(playbook, name) for name in CONTENT_FIELDS})
    current = playbook.current_version
    playbook.has_draft_changes = current is None or (
        playbook_document(playbook, new_type_ids) != version_document(current)
    )
    playbook.updated_at = timezone.now()
    _save(playbook)
    _record(
        playbook,
        actor,
        "playbook.updated",
        {"fields": sorted(changed), "has_draft_changes": playbook.has_draft_changes},
    )
    return playbook


@transaction.atomic
def playbook_delete(*, playbook: Playbook, actor: Actor) -> None:
    """Delete a playbook that was never published (a published one has history: 409)."""
    playbook = lock_playbook(playbook)
    if playbook.current_version_id is not None:
        raise ConflictError(
            "A published playbook keeps its versions and runs; turn off auto_start instead."
        )
    ref = playbook_ref(playbook)
    playbook.delete()
    event_record(
        organisation=playbook.organisation,
        actor=actor,
        type="playbook.deleted",
        subject=("playbook", ref["id"]),
        payload={"playbook": ref},
    )


@transaction.atomic
def playbook_publish(*, playbook: Playbook, actor: Actor, note: str = "") -> PlaybookVersion:
    """Freeze the draft as the next numbered, immutable version; it becomes the one new runs
    use, and the review clock restarts."""
    playbook = lock_playbook(playbook)
    if not playbook.steps:
        raise DomainError("A playbook needs at least one step before it is published.")
    current = playbook.current_version
    if current is not None and not playbook.has_draft_changes:
        raise ConflictError(f"Nothing changed since version {current.number}.")
    document = playbook_document(playbook)
    contents_validate(document)
    now = timezone.now()
    version = PlaybookVersion.all_tenants.create(
        organisation_id=playbook.organisation_id,
        playbook=playbook,
        number=(current.number if current else 0) + 1,
        content_hash=content_hash(document),
        note=note,
        published_by_id=actor.user_id,
        published_at=now,
        **document,
    )
    playbook.current_version = version
    playbook.has_draft_changes = False
    playbook.next_review_at = now + playbook.review_period
    playbook.review_reminded_for = None
    playbook.updated_at = now
    playbook.save()
    _record(
        playbook,
        actor,
        "playbook.published",
        {
            "version": {"id": str(version.pk), "number": version.number},
            "content_hash": version.content_hash,
            "steps": len(version.steps),
            "note": note,
            "next_review_at": playbook.next_review_at,
        },
    )
    return version


@transaction.atomic
def playbook_mark_reviewed(*, playbook: Playbook, actor: Actor) -> Playbook:
    """The owner checked the plan is still right: the next review is one period away."""
    playbook = lock_playbook(playbook)
    if playbook.current_version_id is None:
        raise ConflictError("Publish the playbook first; reviews are of published plans.")
    playbook.next_review_at = timezone.now() + playbook.review_period
    playbook.review_reminded_for = None
    playbook.save(update_fields=("next_review_at", "review_reminded_for"))
    _record(playbook, actor, "playbook.reviewed", {"next_review_at": playbook.next_review_at})
    return playbook


def playbook_review_due_sweep(*, now: datetime | None = None, batch: int = 500) -> int:
    """Announce `playbook.review_due` once per lapse of `next_review_at` (claimed with a
    conditional UPDATE, so overlapping sweeps never announce one lapse twice)."""
    now = now or timezone.now()
    lapsed = Q(review_reminded_for__isnull=True) | ~Q(review_reminded_for=F("next_review_at"))
    announced = 0
    while True:
        with transaction.atomic():
            due = list(
                Playbook.all_tenants.select_for_update(skip_locked=True, of=("self",))
                .select_related("organisation", "current_version")
                .filter(next_review_at__lt=now, current_version__isnull=False)
                .filter(lapsed)
                .order_by("next_review_at")[:batch]
            )
            for playbook in due:
                if (
                    Playbook.all_tenants.filter(pk=playbook.pk)
                    .filter(lapsed)
                    .update(review_reminded_for=F("next_review_at"))
                ):
                    version = playbook.current_version
                    _record(
                        playbook,
                        Actor.system("playbook review sweep"),
                        "playbook.review_due",
                        {
                            "owner_id": str(playbook.owner_id) if playbook.owner_id else None,
                            "due_at": playbook.next_review_at,
                            "version": {"number": version.number if version else None},
                        },
                    )
                    announced += 1
        if len(due) < batch:
            return announced
