"""Who does what in an incident (role assignments, with history) and notes on its timeline."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from crisis_api.api.errors import ConflictError, DomainError
from incidents.models import Incident, IncidentRole, Note, RoleAssignment
from incidents.services.common import lock, monotonic_now, record, save_versioned
from organisations.events import Actor
from organisations.models import Membership, User

FINAL_STATUSES = (
    Incident.Status.CLOSED,
    Incident.Status.DECLINED,
    Incident.Status.MERGED,
    Incident.Status.CANCELLED,
)


def _ensure_member(incident: Incident, user: User) -> None:
    if not Membership.all_tenants.filter(
        organisation_id=incident.organisation_id, user=user
    ).exists():
        raise DomainError("Incident roles go to members of the organisation only.")


@transaction.atomic
def incident_role_assign(
    *, incident: Incident, user: User, role: str, actor: Actor
) -> RoleAssignment:
    """Give a member an incident role. A new commander replaces the previous one (kept in the
    history); holding a role twice is a no-op."""
    incident = lock(incident)
    if incident.status in FINAL_STATUSES:
        raise ConflictError(f"Roles cannot change on a {incident.status} incident.")
    _ensure_member(incident, user)
    current = RoleAssignment.all_tenants.filter(
        incident=incident, role=role, user=user, unassigned_at__isnull=True
    ).first()
    if current is not None:
        return current
    now = monotonic_now(incident)
    replaced: str | None = None
    if role == IncidentRole.COMMANDER:
        previous = RoleAssignment.all_tenants.filter(
            incident=incident, role=role, unassigned_at__isnull=True
        ).first()
        if previous is not None:
            previous.unassigned_at = now
            previous.save(update_fields=("unassigned_at",))
            replaced = str(previous.user_id)
            # Every assignment that ends says so, whether unassigned or replaced.
            _record_unassigned(incident, actor, previous)
        incident.commander = user
        save_versioned(incident, ["commander"], now)
    try:
        with transaction.atomic():
            assignment = RoleAssignment.all_tenants.create(
                organisation_id=incident.organisation_id,
                incident=incident,
                user=user,
                role=role,
                assigned_at=now,
                assigned_by_id=actor.user_id,
            )
    except IntegrityError as exc:  # a concurrent assignment won the race
        raise ConflictError("The role was assigned concurrently; reload and retry.") from exc
    record(
        incident,
        actor,
        "incident.role_assigned",
        {
            "assignment_id": str(assignment.pk),
            "role": role,
            "user": {"id": str(user.pk), "email": user.email},
            "replaced_user_id": replaced,
        },
    )
    return assignment


@transaction.atomic
def incident_role_unassign(*, assignment: RoleAssignment, actor: Actor) -> RoleAssignment:
    """End a role assignment (the row stays, with its end time)."""
    incident = lock(assignment.incident)
    assignment = RoleAssignment.all_tenants.select_for_update().get(pk=assignment.pk)
    if assignment.unassigned_at is not None:
        return assignment
    if incident.status in FINAL_STATUSES:
        raise ConflictError(f"Roles cannot change on a {incident.status} incident.")
    now = monotonic_now(incident)
    assignment.unassigned_at = now
    assignment.save(update_fields=("unassigned_at",))
    if assignment.role == IncidentRole.COMMANDER:
        incident.commander = None
        save_versioned(incident, ["commander"], now)
    _record_unassigned(incident, actor, assignment)
    return assignment


def _record_unassigned(incident: Incident, actor: Actor, assignment: RoleAssignment) -> None:
    record(
        incident,
        actor,
        "incident.role_unassigned",
        {
            "assignment_id": str(assignment.pk),
            "role": assignment.role,
            "user": {"id": str(assignment.user_id)},
        },
    )


@transaction.atomic
def note_add(*, incident: Incident, body: str, actor: Actor) -> Note:
    """Write a note on the incident's timeline."""
    if not body.strip():
        raise DomainError("A note needs some text.")
    note = Note.all_tenants.create(
        organisation_id=incident.organisation_id,
        incident=incident,
        author_id=actor.user_id,
        body=body,
        created_at=timezone.now(),
    )
    record(incident, actor, "incident.note_added", {"note_id": str(note.pk)})
    return note
