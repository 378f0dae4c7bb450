"""Reads of playbooks: which playbook fits an incident, run details, drill reports, stats."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Count, F, Prefetch, Q, QuerySet

from incidents.models import Incident
from incidents.selectors import incidents_for_metrics
from playbooks.models import (
    Drill,
    DrillParticipant,
    Playbook,
    PlaybookRun,
    PlaybookRunStep,
    PlaybookVersion,
)


def _applies(version: PlaybookVersion, incident: Incident) -> bool:
    types = version.crisis_type_ids
    if types and str(incident.crisis_type_id) not in types:
        return False
    bound = version.min_severity_rank
    return bound is None or incident.severity.rank <= bound


def _specificity(version: PlaybookVersion) -> tuple[Any, ...]:
    """Higher is more specific: names crisis types (fewer is narrower), then a severity bound
    (a lower rank bound is narrower); ties go to the latest published."""
    types, bound = version.crisis_type_ids, version.min_severity_rank
    return (
        bool(types),
        -len(types),
        bound is not None,
        -(bound or 0),
        version.published_at,
    )


def playbook_match(*, incident: Incident) -> Playbook | None:
    """The published auto-start playbook whose conditions fit the incident most specifically.

    Conditions live in JSON on the version (they are frozen with it), so they are matched
    here, over the organisation's few playbooks: one query."""
    candidates = [
        playbook
        for playbook in Playbook.all_tenants.filter(
            organisation_id=incident.organisation_id,
            auto_start=True,
            current_version__isnull=False,
        ).select_related("current_version")
        if playbook.current_version is not None and _applies(playbook.current_version, incident)
    ]
    if not candidates:
        return None
    return max(candidates, key=lambda p: _specificity(p.current_version))  # type: ignore[arg-type]


def run_with_steps(queryset: QuerySet[PlaybookRun]) -> QuerySet[PlaybookRun]:
    """What a run's detail shows, in a fixed number of queries whatever its number of steps."""
    return queryset.select_related("incident", "playbook", "version").prefetch_related(
        Prefetch(
            "steps",
            queryset=PlaybookRunStep.all_tenants.select_related(
                "task__owner", "completed_by"
            ).order_by("position"),
        )
    )


def step_timing(step: PlaybookRunStep, started_at: datetime) -> dict[str, Any]:
    """When a step finished against when it was due (seconds from the run's start)."""
    finished = step.completed_at
    elapsed = (finished - started_at).total_seconds() if finished else None
    late = (finished - step.due_at).total_seconds() if finished else None
    if step.status == PlaybookRunStep.Status.SKIPPED:
        verdict = "skipped"
    elif finished is None:
        verdict = "not_done"
    else:
        verdict = "late" if late is not None and late > 0 else "on_time"
    return {
        "key": step.key,
        "title": step.title,
        "kind": step.kind,
        "role": step.role,
        "status": step.status,
        "due_offset_seconds": step.due_offset_minutes * 60,
        "elapsed_seconds": elapsed,
        "late_by_seconds": max(late, 0.0) if late is not None else None,
        "verdict": verdict,
        "skip_reason": step.skip_reason,
    }


def drill_report(*, drill: Drill) -> dict[str, Any]:
    """A drill's timings step by step, its participants, findings and outcome."""
    from incidents.models import Task

    steps: list[PlaybookRunStep] = []
    run = drill.run
    if run is not None:
        steps = list(PlaybookRunStep.all_tenants.filter(run=run).order_by("position"))
    timings = [step_timing(s, run.started_at) for s in steps] if run else []
    findings = (
        list(
            Task.all_tenants.filter(incident_id=drill.incident_id, source=Task.Source.REVIEW)
            .select_related("owner")
            .order_by("created_at", "id")
        )
        if drill.incident_id
        else []
    )
    verdicts = [t["verdict"] for t in timings]
    return {
        "drill": drill,
        "steps": timings,
        "summary": {
            name: verdicts.count(name) for name in ("on_time", "late", "skipped", "not_done")
        },
        "participants": list(
            DrillParticipant.all_tenants.filter(drill=drill).select_related("user")
        ),
        "findings": findings,
    }


def playbook_stats(*, playbook: Playbook) -> dict[str, Any]:
    """Runs on real incidents (drills and crisis types excluded from metrics left out), and how
    many of their finished steps were on time."""
    real_runs = PlaybookRun.all_tenants.filter(
        playbook=playbook, incident__in=incidents_for_metrics(Incident.all_tenants.all())
    )
    runs = real_runs.aggregate(
        total=Count("id"), completed=Count("id", filter=Q(status=PlaybookRun.Status.COMPLETED))
    )
    steps = PlaybookRunStep.all_tenants.filter(
        run__in=real_runs, status=PlaybookRunStep.Status.COMPLETED
    ).aggregate(finished=Count("id"), on_time=Count("id", filter=Q(completed_at__lte=F("due_at"))))
    drills = Drill.all_tenants.filter(playbook=playbook, status=Drill.Status.FINISHED).count()
    return {
        "runs": runs["total"],
        "runs_completed": runs["completed"],
        "steps_completed": steps["finished"],
        "steps_on_time": steps["on_time"],
        "drills_finished": drills,
    }
