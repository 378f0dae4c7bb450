"""An incident's full record as one JSON document: the incident, its timeline (events of the
incident and of its tasks, messages, signals and cases), notes, role history, tasks, review,
messages with approvals, checks and publications, linked signals, cases and evidence.

A fixed number of queries whatever the size of the incident (one per kind of child)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db.models import Prefetch, Q
from django.utils import timezone

from communications.models import ApprovalDecision, ContentCheck, Message, Publication
from communications.serializers import (
    CheckOutput,
    DecisionOutput,
    MessageOutput,
    PublicationOutput,
)
from incidents.models import Incident, Note, Review, RoleAssignment, Task
from incidents.serializers import (
    IncidentDetailOutput,
    ReviewOutput,
    TimelineEntryOutput,
    assignment_output,
    task_output,
)
from monitoring.models import Case, IncidentMention, Signal
from monitoring.serializers_detection import CaseOutput, SignalOutput
from organisations.models import Event

RECORD_FORMAT = "crisis-api.incident-record/1"


def incident_record_get(*, incident: Incident) -> dict[str, Any]:
    """Everything recorded about one incident, for archives, legal holds and reviews."""
    organisation_id = incident.organisation_id
    detail = (
        Incident.all_tenants.select_related(
            "severity", "crisis_type", "commander", "merged_into", "review"
        )
        .prefetch_related(
            Prefetch(
                "assignments",
                queryset=RoleAssignment.all_tenants.filter(
                    unassigned_at__isnull=True
                ).select_related("user"),
                to_attr="current_assignments",
            )
        )
        .get(pk=incident.pk)
    )
    assignments = RoleAssignment.all_tenants.filter(incident=detail).select_related("user")
    tasks = list(Task.all_tenants.filter(incident=detail).select_related("incident", "owner"))
    messages = list(
        Message.all_tenants.filter(incident=detail)
        .select_related("incident", "author")
        .order_by("created_at", "id")
    )
    decisions: dict[Any, list[ApprovalDecision]] = defaultdict(list)
    for decision in ApprovalDecision.all_tenants.filter(message__in=messages).select_related(
        "approver"
    ):
        decisions[decision.message_id].append(decision)
    checks: dict[Any, list[ContentCheck]] = defaultdict(list)
    for check in ContentCheck.all_tenants.filter(message__in=messages).order_by("created_at"):
        checks[check.message_id].append(check)
    publications: dict[Any, list[Publication]] = defaultdict(list)
    for publication in Publication.all_tenants.filter(message__in=messages).order_by("id"):
        publications[publication.message_id].append(publication)
    signals = list(
        Signal.all_tenants.filter(incident=detail)
        .select_related("incident", "triaged_by")
        .order_by("created_at", "id")
    )
    cases = list(
        Case.all_tenants.filter(incident=detail)
        .select_related("incident", "assignee")
        .order_by("created_at", "id")
    )
    evidence = (
        IncidentMention.all_tenants.filter(incident=detail)
        .select_related("mention__source")
        .order_by("created_at", "id")
    )
    subjects = Q(subject_type="incident", subject_id=str(detail.pk))
    for kind, rows in (("task", tasks), ("message", messages), ("signal", signals)):
        if rows:
            subjects |= Q(subject_type=kind, subject_id__in=[str(row.pk) for row in rows])
    if cases:
        subjects |= Q(subject_type="case", subject_id__in=[str(case.pk) for case in cases])
    events = list(Event.all_tenants.filter(organisation_id=organisation_id).filter(subjects))
    notes = {str(note.pk): note for note in Note.all_tenants.filter(incident=detail)}
    review = Review.all_tenants.filter(incident=detail).select_related("incident").first()
    return {
        "format": RECORD_FORMAT,
        "generated_at": timezone.now().isoformat().replace("+00:00", "Z"),
        "incident": IncidentDetailOutput(detail).data,
        "timeline": TimelineEntryOutput(events, many=True, context={"notes": notes}).data,
        "role_history": [assignment_output(assignment) for assignment in assignments],
        "tasks": [task_output(task) for task in tasks],
        "review": (
            ReviewOutput(
                review,
                context={"action_items": [t for t in tasks if t.source == Task.Source.REVIEW]},
            ).data
            if review
            else None
        ),
        "messages": [
            {
                **MessageOutput(message).data,
                "approvals": DecisionOutput(
                    decisions[message.pk],
                    many=True,
                    context={"content_hash": message.content_hash},
                ).data,
                "checks": CheckOutput(checks[message.pk], many=True).data,
                "publications": PublicationOutput(publications[message.pk], many=True).data,
            }
            for message in messages
        ],
        "signals": SignalOutput(signals, many=True).data,
        "cases": CaseOutput(cases, many=True).data,
        "evidence": [
            {
                "mention_id": str(link.mention_id),
                "source": {"id": str(link.mention.source_id), "kind": link.mention.source.kind},
                "url": link.mention.url,
                "author_handle": link.mention.author_handle,
                "text": link.mention.text,
                "posted_at": link.mention.posted_at.isoformat().replace("+00:00", "Z"),
                "sentiment_label": link.mention.sentiment_label,
                "added_at": link.created_at.isoformat().replace("+00:00", "Z"),
                "signal_id": str(link.signal_id) if link.signal_id else None,
            }
            for link in evidence
        ],
    }
