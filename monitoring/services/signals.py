"""Signals: what a firing rule does (notify, declare, link), and triage by people.

    new ──escalate──▶ escalated (an incident is declared)
     │ ──link──────▶ linked (to an open incident)
     │ ──dismiss───▶ dismissed (false_positive | benign | insufficient_information)
     └ ──snooze────▶ snoozed (until; its rule stays quiet meanwhile) ─▶ any of the above,
                     or back to new when the time comes (the minute sweep)

Each change locks the signal's row; anything else is a 409 naming the allowed actions.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from crisis_api.api.errors import ConflictError, DomainError
from incidents import services as incidents
from incidents.models import OPEN_STATUSES, CrisisType, Incident, Severity
from monitoring.models import Case, DetectionRule, IncidentMention, Signal
from monitoring.services.detection import DETECTION, signal_record
from organisations.events import Actor

S = Signal.Status
TRIAGEABLE = (S.NEW, S.SNOOZED)
ACTIONS = ("escalate", "link", "dismiss", "snooze")
MAX_SNOOZE = timedelta(days=30)


class SignalTransitionError(ConflictError):
    """The signal was already triaged (escalated, linked or dismissed)."""

    code = "invalid_transition"


def _lock(signal: Signal) -> Signal:
    locked = (
        Signal.all_tenants.select_for_update(of=("self",))
        .select_related("organisation", "rule__crisis_type", "rule__severity")
        .get(pk=signal.pk)
    )
    if locked.status not in TRIAGEABLE:
        raise SignalTransitionError(
            f"The signal is already {locked.status}; allowed: nothing.",
            current_status=locked.status,
            allowed=[],
        )
    return locked


def allowed_signal_actions(status: str) -> list[str]:
    return list(ACTIONS) if status in TRIAGEABLE else []


def _triaged(signal: Signal, actor: Actor, status: str, now: datetime) -> list[str]:
    signal.status = status
    signal.triaged_by_id = actor.user_id
    signal.triaged_at = signal.updated_at = now
    return ["status", "triaged_by", "triaged_at", "updated_at"]


def _attach_sample(signal: Signal, incident: Incident, actor: Actor) -> None:
    """The signal's sample mentions become evidence on the incident (once each)."""
    IncidentMention.all_tenants.bulk_create(
        [
            IncidentMention(
                organisation_id=signal.organisation_id,
                incident=incident,
                mention_id=mention_id,
                signal=signal,
                added_by_id=actor.user_id,
            )
            for mention_id in signal.sample_mention_ids
        ],
        ignore_conflicts=True,
    )


def _incident_ref(incident: Incident) -> dict[str, Any]:
    return {"id": str(incident.pk), "reference": incident.reference}


@transaction.atomic
def signal_escalate(
    *,
    signal: Signal,
    actor: Actor,
    title: str = "",
    crisis_type: CrisisType | None = None,
    severity: Severity | None = None,
    summary: str = "",
) -> Signal:
    """Declare an incident from the signal (type and severity default to its rule's)."""
    signal = _lock(signal)
    rule = signal.rule
    crisis_type = crisis_type or (rule.crisis_type if rule else None)
    severity = severity or (rule.severity if rule else None)
    if crisis_type is None or severity is None:
        raise DomainError("Name the crisis type and severity of the incident to declare.")
    incident = incidents.incident_declare(
        organisation=signal.organisation,
        actor=actor,
        title=(title or f"{signal.rule_name}: {_describe(signal)}")[:200],
        crisis_type=crisis_type,
        severity=severity,
        summary=summary or _describe(signal),
        status=Incident.Status.ACTIVE,
        source=Incident.Source.SIGNAL,
    )
    return _escalated(signal, incident, actor)


def _escalated(signal: Signal, incident: Incident, actor: Actor) -> Signal:
    fields = _triaged(signal, actor, S.ESCALATED, timezone.now())
    signal.incident = incident
    signal.save(update_fields=[*fields, "incident"])
    _attach_sample(signal, incident, actor)
    signal_record(signal, actor, "signal.escalated", {"incident": _incident_ref(incident)})
    return signal


def _describe(signal: Signal) -> str:
    if signal.baseline is not None:
        return f"{signal.observed:g} observed against a baseline of {signal.baseline:.2f}"
    return f"{signal.observed:g} observed"


@transaction.atomic
def signal_link(*, signal: Signal, incident: Incident, actor: Actor) -> Signal:
    """Attach the signal to an incident that is still open."""
    signal = _lock(signal)
    return _linked(signal, incident, actor)


def _linked(signal: Signal, incident: Incident, actor: Actor) -> Signal:
    if incident.status not in OPEN_STATUSES:
        raise ConflictError(f"{incident.reference} is {incident.status}; link to an open incident.")
    fields = _triaged(signal, actor, S.LINKED, timezone.now())
    signal.incident = incident
    signal.save(update_fields=[*fields, "incident"])
    _attach_sample(signal, incident, actor)
    signal_record(signal, actor, "signal.linked", {"incident": _incident_ref(incident)})
    return signal


@transaction.atomic
def signal_dismiss(*, signal: Signal, reason: str, actor: Actor, note: str = "") -> Signal:
    """Close the signal without an incident, saying why."""
    if reason not in Signal.DismissReason.values:
        raise DomainError(f"Unknown reason {reason!r}.")
    signal = _lock(signal)
    fields = _triaged(signal, actor, S.DISMISSED, timezone.now())
    signal.dismiss_reason, signal.note = reason, note
    signal.save(update_fields=[*fields, "dismiss_reason", "note"])
    signal_record(signal, actor, "signal.dismissed", {"reason": reason, "note": note})
    return signal


@transaction.atomic
def signal_snooze(*, signal: Signal, until: datetime, actor: Actor) -> Signal:
    """Put the signal aside until a time; its rule raises nothing new meanwhile."""
    now = timezone.now()
    if until <= now:
        raise DomainError("Snooze until a time in the future.")
    if until - now > MAX_SNOOZE:
        raise DomainError("Snooze for at most 30 days.")
    signal = _lock(signal)
    fields = _triaged(signal, actor, S.SNOOZED, now)
    signal.snoozed_until = until
    signal.save(update_fields=[*fields, "snoozed_until"])
    signal_record(signal, actor, "signal.snoozed", {"until": until})
    return signal


def signals_wake(*, now: datetime | None = None, batch: int = 500) -> int:
    """Snoozed signals whose time has come are `new` again (`signal.woke`), back in the triage
    queue. Rows are claimed with SKIP LOCKED, so overlapping sweeps wake each one once."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            Signal.all_tenants.select_for_update(skip_locked=True, of=("self",))
            .select_related("organisation")
            .filter(status=S.SNOOZED, snoozed_until__lte=now)
            .order_by("snoozed_until")[:batch]
        )
        for signal in due:
            signal.status, signal.updated_at = S.NEW, now
            signal.save(update_fields=("status", "updated_at"))
            signal_record(signal, Actor.system("snooze sweep"), "signal.woke", {})
    return len(due)


def _open_incident_of_rule(rule: DetectionRule) -> Incident | None:
    """The incident this rule declared earlier, if it is still open (a wave that outlasts the
    cooldown joins it instead of opening a second one)."""
    earlier = (
        Signal.all_tenants.filter(rule=rule, incident__status__in=OPEN_STATUSES, status=S.ESCALATED)
        .select_related("incident")
        .order_by("-created_at")
        .first()
    )
    return earlier.incident if earlier else None


def _open_incident(signal: Signal) -> Incident | None:
    return (
        Incident.all_tenants.filter(
            organisation_id=signal.organisation_id, status__in=OPEN_STATUSES, is_drill=False
        )
        .order_by("-created_at")
        .first()
    )


def signal_act(*, signal: Signal, rule: DetectionRule) -> None:
    """What a freshly raised signal does, in the evaluation's transaction: in monitor mode
    only a record; otherwise `signal.created` (notifying members for `notify`) and then the
    rule's action."""
    if rule.mode == DetectionRule.Mode.MONITOR:
        signal_record(signal, DETECTION, "signal.monitored", {"would": rule.action})
        return
    notify = rule.action == DetectionRule.Action.NOTIFY
    signal_record(signal, DETECTION, "signal.created", {"notify": notify, "action": rule.action})
    if rule.action == DetectionRule.Action.AUTO_DECLARE:
        incident = _open_incident_of_rule(rule)
        if incident is not None:
            _linked(signal, incident, DETECTION)
            return
        try:
            with transaction.atomic():
                signal_escalate(signal=signal, actor=DETECTION)
        except DomainError as exc:  # e.g. its crisis type was deactivated: triage by hand
            signal_record(signal, DETECTION, "signal.action_failed", {"reason": exc.detail})
    elif rule.action == DetectionRule.Action.LINK_INCIDENT:
        incident = _open_incident(signal)
        if incident is not None:
            _linked(signal, incident, DETECTION)


def move_links_on_merge(merged: Incident, target: Incident, actor: Actor) -> None:
    """Incident merge hook: signals, cases and mention evidence follow the merged incident."""
    Signal.all_tenants.filter(incident=merged).update(incident=target)
    Case.all_tenants.filter(incident=merged).update(incident=target)
    links = IncidentMention.all_tenants.filter(incident=merged)
    IncidentMention.all_tenants.bulk_create(
        [
            IncidentMention(
                organisation_id=target.organisation_id,
                incident=target,
                mention_id=link.mention_id,
                signal_id=link.signal_id,
                added_by_id=link.added_by_id,
                created_at=link.created_at,
            )
            for link in links
        ],
        ignore_conflicts=True,
    )
    links.delete()
