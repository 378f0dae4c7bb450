"""Per-organisation incident configuration: crisis types and severities, seeded on creation."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from crisis_api.api.errors import ConflictError
from incidents.models import CrisisType, IncidentCounter, Severity
from organisations.events import Actor, event_record, subject_of
from organisations.models import Event, Organisation

DEFAULT_CRISIS_TYPES: tuple[tuple[str, str, str], ...] = (
    ("product-defect", "Product defect or recall", "A faulty or dangerous product, or a recall."),
    ("service-outage", "Service outage", "The service is down or badly degraded."),
    ("data-breach", "Data breach", "Personal or confidential data was exposed."),
    ("customer-service", "Customer-service failure", "Customers were failed or mistreated."),
    ("misconduct", "Executive or employee misconduct", "Behaviour of people of the company."),
    ("misinformation", "Misinformation", "False claims about the company spread."),
    ("campaign-backlash", "Campaign backlash", "A campaign or post offended its audience."),
    ("legal-regulatory", "Legal or regulatory", "Lawsuits, regulators, investigations."),
    ("safety", "Safety", "Danger to people's health or safety."),
)

# name, rank, public-update interval (minutes), review required, approval strictness
DEFAULT_SEVERITIES: tuple[tuple[str, int, int, bool, str], ...] = (
    ("SEV1 Critical", 1, 30, True, Severity.Strictness.STRICT),
    ("SEV2 High", 2, 60, True, Severity.Strictness.ELEVATED),
    ("SEV3 Moderate", 3, 240, False, Severity.Strictness.STANDARD),
    ("SEV4 Low", 4, 1440, False, Severity.Strictness.STANDARD),
)


def incident_config_seed(*, organisation: Organisation) -> None:
    """Give an organisation the default crisis types and four severities (idempotent)."""
    IncidentCounter.objects.get_or_create(organisation=organisation)
    if not CrisisType.all_tenants.filter(organisation=organisation).exists():
        CrisisType.all_tenants.bulk_create(
            CrisisType(organisation=organisation, slug=slug, name=name, description=text)
            for slug, name, text in DEFAULT_CRISIS_TYPES
        )
    if not Severity.all_tenants.filter(organisation=organisation).exists():
        Severity.all_tenants.bulk_create(
            Severity(
                organisation=organisation,
                name=name,
                rank=rank,
                public_update_interval_minutes=minutes,
                review_required=review,
                approval_strictness=strictness,
            )
            for name, rank, minutes, review, strictness in DEFAULT_SEVERITIES
        )


def seed_on_organisation_created(event: Event, actor: Actor) -> None:
    """Subscriber of `organisation.created` (registered in IncidentsConfig.ready)."""
    incident_config_seed(organisation=event.organisation)


def _save_config(obj: CrisisType | Severity, actor: Actor, type: str, payload: Any) -> None:
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError as exc:
        raise ConflictError(f"Another {obj._meta.verbose_name} has the same name or rank.") from exc
    event_record(
        organisation=obj.organisation,
        actor=actor,
        type=type,
        subject=subject_of(obj),
        payload=payload,
    )


@transaction.atomic
def crisis_type_create(*, organisation: Organisation, actor: Actor, **fields: Any) -> CrisisType:
    """Add a crisis type."""
    crisis_type = CrisisType(organisation=organisation, **fields)
    _save_config(crisis_type, actor, "crisis_type.created", fields)
    return crisis_type


@transaction.atomic
def crisis_type_update(*, crisis_type: CrisisType, actor: Actor, **fields: Any) -> CrisisType:
    """Edit a crisis type; records what changed."""
    changes = _apply(crisis_type, fields)
    if changes:
        _save_config(crisis_type, actor, "crisis_type.updated", {"changes": changes})
    return crisis_type


@transaction.atomic
def crisis_type_delete(*, crisis_type: CrisisType, actor: Actor) -> None:
    """Delete an unused crisis type; one used by incidents can only be deactivated (409)."""
    pk = crisis_type.pk  # delete() sets it to None
    try:
        with transaction.atomic():
            crisis_type.delete()
    except ProtectedError as exc:
        raise ConflictError("Incidents use this crisis type: deactivate it instead.") from exc
    event_record(
        organisation=crisis_type.organisation,
        actor=actor,
        type="crisis_type.deleted",
        subject=("crisis_type", str(pk)),
        payload={"slug": crisis_type.slug},
    )


@transaction.atomic
def severity_create(*, organisation: Organisation, actor: Actor, **fields: Any) -> Severity:
    """Add a severity level."""
    severity = Severity(organisation=organisation, **fields)
    _save_config(severity, actor, "severity.created", fields)
    return severity


@transaction.atomic
def severity_update(*, severity: Severity, actor: Actor, **fields: Any) -> Severity:
    """Edit a severity level; a new interval applies from the next public update on."""
    changes = _apply(severity, fields)
    if changes:
        _save_config(severity, actor, "severity.updated", {"changes": changes})
    return severity


@transaction.atomic
def severity_delete(*, severity: Severity, actor: Actor) -> None:
    """Delete an unused severity level (409 when incidents use it)."""
    pk = severity.pk  # delete() sets it to None
    try:
        with transaction.atomic():
            severity.delete()
    except ProtectedError as exc:
        raise ConflictError("Incidents use this severity; it cannot be deleted.") from exc
    event_record(
        organisation=severity.organisation,
        actor=actor,
        type="severity.deleted",
        subject=("severity", str(pk)),
        payload={"name": severity.name, "rank": severity.rank},
    )


def _apply(obj: Any, fields: dict[str, Any]) -> dict[str, Any]:
    changes = {
        name: {"from": getattr(obj, name), "to": value}
        for name, value in fields.items()
        if getattr(obj, name) != value
    }
    for name in changes:
        setattr(obj, name, fields[name])
    return changes
