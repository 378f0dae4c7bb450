"""Complaint cases: grouping arriving mentions by author, assignment and the case lifecycle.

    new ─assign─▶ assigned ─respond─▶ responded ─await_customer─▶ awaiting_customer
     └──────────────┴──────respond──────┘  ▲        (the customer writes again: back to
    any open ─resolve─▶ resolved ─close─▶ closed     assigned, or new if unassigned)
    resolved | closed ─reopen─▶ assigned (or new)

A case is due its first response `first_response_sla_minutes` (the organisation's setting)
after it opens; `first_responded_at` is set once, by the first `respond`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import Count, F, Max, Min, OuterRef, Subquery
from django.utils import timezone

from crisis_api.api.errors import ConflictError
from incidents.models import OPEN_STATUSES, Incident
from monitoring.models import Case, Mention
from monitoring.models.cases import OPEN_CASE_STATUSES
from organisations.events import Actor, event_record
from organisations.models import Organisation, User

logger = logging.getLogger(__name__)
C = Case.Status
INBOX = Actor.system("inbox")
PENDING_BATCH = 500  # mentions per sweep batch: one transaction, one cases_group
PENDING_MAX_BATCHES = 40  # per sweep run, over all organisations (20,000 mentions)


class CaseTransitionError(ConflictError):
    """The action is not allowed from the case's current status."""

    code = "invalid_transition"


@dataclass(frozen=True)
class Transition:
    sources: tuple[str, ...]
    target: str | None  # None: decided by the case (reopen → assigned or new)
    event: str


TRANSITIONS: dict[str, Transition] = {
    "respond": Transition((C.NEW, C.ASSIGNED, C.AWAITING_CUSTOMER), C.RESPONDED, "case.responded"),
    "await_customer": Transition((C.RESPONDED,), C.AWAITING_CUSTOMER, "case.awaiting_customer"),
    "resolve": Transition(OPEN_CASE_STATUSES, C.RESOLVED, "case.resolved"),
    "close": Transition((C.RESOLVED,), C.CLOSED, "case.closed"),
    "reopen": Transition((C.RESOLVED, C.CLOSED), None, "case.reopened"),
}


def allowed_case_actions(status: str) -> list[str]:
    actions = [name for name, t in TRANSITIONS.items() if status in t.sources]
    if status in OPEN_CASE_STATUSES:
        actions.append("assign")
    return sorted(actions)


def case_payload(case: Case) -> dict[str, Any]:
    """The case as events and webhooks carry it."""
    return {
        "case": {
            "id": str(case.pk),
            "status": case.status,
            "platform": case.platform,
            "author_handle": case.author_handle,
            "assignee_id": str(case.assignee_id) if case.assignee_id else None,
            "incident_id": str(case.incident_id) if case.incident_id else None,
            "first_response_due_at": case.first_response_due_at,
            "first_responded_at": case.first_responded_at,
            "mention_count": case.mention_count,
        }
    }


def _record(case: Case, actor: Actor, type: str, extra: dict[str, Any] | None = None) -> None:
    event_record(
        organisation=case.organisation,
        actor=actor,
        type=type,
        subject=("case", str(case.pk)),
        payload={**case_payload(case), **(extra or {})},
    )


# --- grouping -----------------------------------------------------------------------------------


def cases_group(
    *, organisation_id: Any, mention_ids: list[Any], now: datetime | None = None
) -> int:
    """Put newly stored mentions into their authors' open cases, opening a case for an author
    whose batch holds a negative mention, and settle them (`grouping_pending` cleared in the
    same transaction). Only pending mentions are taken, locked with SKIP LOCKED: when the
    after-commit task and the grouping sweep meet on a batch, whoever locked a mention groups
    it and the other passes over it, so a mention joins one case once. A fixed number of
    queries per batch, plus one `case.created` event per opened case. Returns the number of
    cases opened."""
    now = now or timezone.now()
    with transaction.atomic():
        rows: list[dict[str, Any]] = [
            dict(row)
            for row in Mention.all_tenants.select_for_update(skip_locked=True, of=("self",))
            .filter(organisation_id=organisation_id, pk__in=mention_ids, grouping_pending=True)
            .order_by()
            .values(
                "pk",
                "case_id",
                "source__kind",
                "author_id",
                "author_handle",
                "author_name",
                "posted_at",
                "sentiment_label",
            )
        ]
        if not rows:
            return 0
        by_author: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for row in rows:
            if row["case_id"] is None and (row["author_id"] or row["author_handle"]):
                key = (row["source__kind"], row["author_id"] or row["author_handle"])
                by_author.setdefault(key, []).append(row)
        settled = Mention.all_tenants.filter(pk__in=[r["pk"] for r in rows])
        if not by_author:  # nobody to group (no author): settled as they are
            settled.update(grouping_pending=False)
            return 0
        open_cases = _open_cases(organisation_id, by_author)
        organisation = Organisation.objects.get(pk=organisation_id)
        due = now + timedelta(minutes=organisation.first_response_sla_minutes)
        opening = [
            Case(
                organisation_id=organisation_id,
                platform=platform,
                author_key=author_key,
                author_handle=group[0]["author_handle"],
                author_name=group[0]["author_name"],
                first_response_due_at=due,
                created_at=now,
                updated_at=now,
            )
            for (platform, author_key), group in sorted(by_author.items())  # one lock order
            if (platform, author_key) not in open_cases
            and any(r["sentiment_label"] == Mention.SentimentLabel.NEGATIVE for r in group)
        ]
        created_ids = {case.pk for case in opening}
        if opening:  # a concurrent batch may open the same author's case: its one wins
            Case.all_tenants.bulk_create(opening, ignore_conflicts=True)
            open_cases = _open_cases(organisation_id, by_author)
        whens = [
            models.When(pk__in=[r["pk"] for r in group], then=models.Value(open_cases[key].pk))
            for key, group in by_author.items()
            if key in open_cases
        ]
        if not whens:
            settled.update(grouping_pending=False)
            return 0
        # One write per mention: grouped and settled together (the rows are ours, locked above).
        settled.update(
            grouping_pending=False,
            case_id=models.Case(*whens, default=F("case_id"), output_field=models.UUIDField()),
        )
        touched = [case.pk for case in open_cases.values()]
        _refresh_counts(touched)
        fresh = {
            case.pk: case
            for case in Case.all_tenants.filter(pk__in=touched).select_related("organisation")
        }
        replied = [
            case
            for case in fresh.values()
            if case.status == C.AWAITING_CUSTOMER and case.pk not in created_ids
        ]
        for case in replied:  # the customer wrote back: the case needs attention again
            case.status = C.ASSIGNED if case.assignee_id else C.NEW
            case.updated_at = now
            case.save(update_fields=("status", "updated_at"))
            _record(case, INBOX, "case.customer_replied")
        opened = [fresh[pk] for pk in created_ids if pk in fresh]
        for case in opened:
            _record(case, INBOX, "case.created")
        return len(opened)


def cases_group_pending(
    *,
    now: datetime | None = None,
    grace: timedelta | None = None,
    batch_size: int = PENDING_BATCH,
    max_batches: int = PENDING_MAX_BATCHES,
) -> int:
    """The grouping sweep: mentions still pending `grace` after they were stored (their
    after-commit task was never published, was lost, or its worker died) are grouped, per
    organisation in batches of `batch_size` taken oldest first with SKIP LOCKED, so a batch a
    running task holds is left to it. Organisations take turns, one batch each, until their
    backlog or `max_batches` is spent. Returns the number of mentions settled."""
    now = now or timezone.now()
    grace = grace if grace is not None else timedelta(seconds=settings.CASES_GROUPING_GRACE_SECONDS)
    cutoff = now - grace
    waiting = list(
        Mention.all_tenants.filter(grouping_pending=True, fetched_at__lte=cutoff)
        .order_by()
        .values_list("organisation_id", flat=True)
        .distinct()
    )
    settled = 0
    while waiting and max_batches > 0:
        for organisation_id in list(waiting):
            if max_batches <= 0:
                break
            max_batches -= 1
            try:
                with transaction.atomic():
                    ids = list(
                        Mention.all_tenants.select_for_update(skip_locked=True)
                        .filter(
                            organisation_id=organisation_id,
                            grouping_pending=True,
                            fetched_at__lte=cutoff,
                        )
                        .order_by("fetched_at")
                        .values_list("pk", flat=True)[:batch_size]
                    )
                    if ids:
                        cases_group(organisation_id=organisation_id, mention_ids=ids, now=now)
            except Exception:  # one organisation's failure must not hold up the others
                logger.exception("grouping pending mentions of %s failed", organisation_id)
                ids = []
            settled += len(ids)
            if len(ids) < batch_size:
                waiting.remove(organisation_id)
    return settled


def _open_cases(
    organisation_id: Any, by_author: dict[tuple[str, str], Any]
) -> dict[tuple[str, str], Case]:
    keys = {author_key for _, author_key in by_author}
    cases = Case.all_tenants.filter(
        organisation_id=organisation_id, status__in=OPEN_CASE_STATUSES, author_key__in=keys
    )
    return {
        (case.platform, case.author_key): case
        for case in cases
        if (case.platform, case.author_key) in by_author
    }


def _refresh_counts(case_ids: list[Any]) -> None:
    mentions = Mention.all_tenants.filter(case=OuterRef("pk")).order_by().values("case")
    Case.all_tenants.filter(pk__in=case_ids).update(
        mention_count=Subquery(mentions.annotate(n=Count("pk")).values("n")[:1]),
        first_mention_at=Subquery(mentions.annotate(at=Min("posted_at")).values("at")[:1]),
        last_mention_at=Subquery(mentions.annotate(at=Max("posted_at")).values("at")[:1]),
    )


# --- lifecycle ----------------------------------------------------------------------------------


def _lock(case: Case) -> Case:
    return (
        Case.all_tenants.select_for_update(of=("self",))
        .select_related("organisation")
        .get(pk=case.pk)
    )


def _refuse(case: Case, action: str) -> CaseTransitionError:
    allowed = allowed_case_actions(case.status)
    return CaseTransitionError(
        f"Cannot {action.replace('_', ' ')} a {case.status} case; allowed: "
        f"{', '.join(allowed) or 'nothing'}.",
        current_status=case.status,
        allowed=allowed,
    )


@transaction.atomic
def case_assign(*, case: Case, assignee: User | None, actor: Actor) -> Case:
    """Give an open case to a member (or take it back); a new case becomes assigned."""
    case = _lock(case)
    if case.status not in OPEN_CASE_STATUSES:
        raise _refuse(case, "assign")
    previous = str(case.assignee_id) if case.assignee_id else None
    case.assignee = assignee
    if case.status == C.NEW and assignee is not None:
        case.status = C.ASSIGNED
    elif case.status == C.ASSIGNED and assignee is None:
        case.status = C.NEW
    case.updated_at = timezone.now()
    case.save(update_fields=("assignee", "status", "updated_at"))
    _record(case, actor, "case.assigned", {"previous_assignee_id": previous})
    return case


@transaction.atomic
def case_transition(*, case: Case, action: str, actor: Actor) -> Case:
    """Apply one lifecycle action under a row lock; 409 naming the allowed ones otherwise."""
    transition = TRANSITIONS[action]
    case = _lock(case)
    if case.status not in transition.sources:
        raise _refuse(case, action)
    now = timezone.now()
    previous = case.status
    fields = ["status", "updated_at"]
    extra: dict[str, Any] = {"from": previous}
    if action == "respond":
        extra["first_response"] = case.first_responded_at is None
        if case.first_responded_at is None:
            case.first_responded_at = now
            fields.append("first_responded_at")
        due = case.first_response_due_at
        extra["within_sla"] = due is None or case.first_responded_at <= due
    elif action == "resolve":
        case.resolved_at = now
        fields.append("resolved_at")
    elif action == "close":
        case.closed_at = now
        fields.append("closed_at")
    elif action == "reopen":
        case.resolved_at = case.closed_at = None
        fields += ["resolved_at", "closed_at"]
    case.status = transition.target or (C.ASSIGNED if case.assignee_id else C.NEW)
    case.updated_at = now
    try:
        with transaction.atomic():
            case.save(update_fields=fields)
    except IntegrityError as exc:  # reopen while the author has a newer open case
        raise ConflictError("The author has another open case; work on that one instead.") from exc
    _record(case, actor, transition.event, extra)
    return case


@transaction.atomic
def case_link(*, case: Case, incident: Incident | None, actor: Actor) -> Case:
    """Link the case to an open incident (or unlink it with None)."""
    case = _lock(case)
    if incident is not None and incident.status not in OPEN_STATUSES:
        raise ConflictError(f"{incident.reference} is {incident.status}; link an open incident.")
    previous = str(case.incident_id) if case.incident_id else None
    case.incident = incident
    case.updated_at = timezone.now()
    case.save(update_fields=("incident", "updated_at"))
    _record(case, actor, "case.linked", {"previous_incident_id": previous})
    return case
