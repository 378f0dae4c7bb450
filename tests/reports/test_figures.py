"""Report figures over a constructed history whose answers are known, under a frozen clock.

The history (T0 = 2030-03-01 10:00 UTC, the clock stops at T0 + 6 h):
- INC A (SEV1, 30-min updates): declared active at T0; public updates at +20 min (due +30: on
  time) and +70 min (due +50: late; the sweep announced the lapse at +55); resolved at +2 h.
- INC B (SEV2): opened in triage at +1 h; a notification about it acknowledged at +1 h 10;
  declared at +1 h 30; resolved at +5 h 30.
- A drill and an incident of a crisis type excluded from metrics, each with everything else
  attached (messages, cases, signals): none of it may count. An incident 40 days earlier is
  outside the range.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from rest_framework.test import APIClient

from communications.models import ApprovalDecision, Message
from incidents import services
from incidents.models import CrisisType, Incident
from monitoring.models import Case, DetectionRule, Mention, Signal, Source
from notifications.models import Notification
from organisations.events import Actor
from organisations.models import Organisation, Role, User
from reports.serializers import ReportOutput
from tests.factories import (
    make_contact_method,
    make_event,
    make_incident,
    make_membership,
    make_source,
    severity_of,
)

pytestmark = pytest.mark.django_db

T0 = datetime(2030, 3, 1, 10, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=6)
SYSTEM = Actor.system("tests")
RANGE = {"from": "2030-02-28T10:00:00Z", "to": "2030-03-02T10:00:00Z"}


def at(**delta: float) -> datetime:
    return T0 + timedelta(**delta)


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def _transition(incident: Incident, action: str) -> Incident:
    return services.incident_transition(incident=incident, action=action, actor=SYSTEM)


def _message(
    org: Organisation,
    incident: Incident | None,
    submitted_at: datetime,
    steps: list[tuple[int, datetime, str]],
    approver: User,
) -> Message:
    """An approved message with approvals (step, time, content hash) of the current text."""
    message = Message.all_tenants.create(
        organisation=org,
        kind="public_statement",
        body="We are on it.",
        incident=incident,
        content_hash="h2",
        approved_hash="h2",
        submitted_at=submitted_at,
        approved_at=max(when for _, when, _ in steps),
        policy_snapshot={
            "id": "6a3b5b4e-0000-4000-8000-000000000001",
            "name": "Statements",
            "steps": [{"name": "Legal"}, {"name": "Executive"}],
        },
    )
    for n, (step, when, content_hash) in enumerate(steps):
        approver_user = approver if n == 0 else make_membership(org, Role.APPROVER).user
        ApprovalDecision.all_tenants.create(
            organisation=org,
            message=message,
            step=step,
            approver=approver_user,
            decision="approve",
            content_hash=content_hash,
            round_started_at=submitted_at,
            decided_at=when,
        )
    return message


_authors = itertools.count(1)


def _case(org: Organisation, created: datetime, **fields: Any) -> Case:
    return Case.all_tenants.create(
        organisation=org,
        platform="mastodon",
        author_key=f"author-{next(_authors)}",
        created_at=created,
        first_response_due_at=created + timedelta(minutes=60),
        **fields,
    )


def _signal(
    org: Organisation, rule: DetectionRule, incident: Incident | None, status: str, **fields: Any
) -> Signal:
    return Signal.all_tenants.create(
        organisation=org,
        rule=rule,
        rule_name=rule.name,
        metric=rule.metric,
        mode="active",
        dedupe_key=f"{rule.pk}:{Signal.all_tenants.count()}",
        window_start=fields.pop("window_start", at(hours=-1)),
        window_end=T0,
        observed=1,
        score=1,
        status=status,
        incident=incident,
        created_at=fields.pop("created_at", T0),
        breakdown=fields.pop("breakdown", {"window_minutes": 60, "sources": [], "languages": []}),
        **fields,
    )


def _mentions(org: Organisation, source: Source, times: list[tuple[datetime, bool]]) -> None:
    Mention.all_tenants.bulk_create(
        Mention(
            organisation=org,
            source=source,
            external_id=f"{source.pk}-{n}",
            text="Acme",
            posted_at=when,
            sentiment=-0.5 if negative else 0.0,
            sentiment_label="negative" if negative else "neutral",
        )
        for n, (when, negative) in enumerate(times)
    )


@pytest.fixture
def history(org: Organisation, clock: time_machine.Traveller, unscoped: None) -> dict[str, Any]:
    sev1, sev2 = severity_of(org, 1), severity_of(org, 2)
    outage = CrisisType.all_tenants.get(organisation=org, slug="service-outage")
    excluded_type = CrisisType.all_tenants.create(
        organisation=org, name="Internal test", slug="internal-test", exclude_from_metrics=True
    )
    clock.move_to(at(days=-40))
    make_incident(org, severity=sev1, crisis_type=outage, title="Long ago")
    clock.move_to(T0)
    a = make_incident(org, severity=sev1, crisis_type=outage, title="A")
    drill = make_incident(org, severity=sev1, crisis_type=outage, is_drill=True, title="Drill")
    excluded = make_incident(org, severity=sev2, crisis_type=excluded_type, title="Excluded")
    clock.move_to(at(minutes=20))
    services.incident_public_update_record(incident=a, actor=SYSTEM)
    services.incident_public_update_record(incident=drill, actor=SYSTEM)
    clock.move_to(at(minutes=55))
    assert services.public_update_overdue_sweep() == 3  # A, the drill, the old one
    clock.move_to(at(minutes=70))
    services.incident_public_update_record(incident=a, actor=SYSTEM)
    clock.move_to(at(hours=1))
    b = make_incident(org, severity=sev2, crisis_type=outage, status="triage", title="B")
    method = make_contact_method(org)
    Notification.all_tenants.create(
        organisation=org,
        event=make_event(org),
        recipient=method.user,
        contact_method=method,
        channel=method.kind,
        incident=b,
        acknowledged_at=at(hours=1, minutes=10),
    )
    clock.move_to(at(hours=1, minutes=30))
    _transition(b, "declare")
    clock.move_to(at(hours=2))
    _transition(a, "resolve")
    _transition(drill, "resolve")
    clock.move_to(at(hours=5, minutes=30))
    _transition(b, "resolve")

    approver = make_membership(org, Role.APPROVER).user
    first = _message(
        org,
        a,
        T0,
        [(0, at(minutes=10), "h2"), (1, at(minutes=15), "h2"), (1, at(minutes=40), "h2")],
        approver,
    )
    ApprovalDecision.all_tenants.create(  # of an earlier review round: never counts
        organisation=org,
        message=first,
        step=1,
        approver=make_membership(org, Role.APPROVER).user,
        decision="approve",
        content_hash="h2",
        round_started_at=at(hours=-1),
        decided_at=at(minutes=50),
    )
    _message(
        org,
        None,
        at(hours=1),
        [
            (0, at(hours=1, minutes=5), "h1"),
            (0, at(hours=1, minutes=30), "h2"),
            (1, at(hours=1, minutes=35), "h2"),
        ],
        approver,
    )
    _message(org, drill, T0, [(0, at(hours=3), "h2")], approver)

    _case(org, T0, status="responded", first_responded_at=at(minutes=30))
    _case(org, at(hours=1), status="responded", first_responded_at=at(hours=3))
    _case(org, at(hours=2))
    _case(org, at(hours=5, minutes=30))
    _case(
        org,
        at(hours=1),
        status="resolved",
        first_responded_at=at(hours=1, minutes=15),
        resolved_at=at(hours=2),
    )
    _case(org, T0, status="responded", first_responded_at=at(hours=5), incident=drill)

    r1 = DetectionRule.all_tenants.create(
        organisation=org, name="Negative spike", metric="negative_volume"
    )
    r2 = DetectionRule.all_tenants.create(
        organisation=org, name="Alarm words", metric="alarm_keyword"
    )
    source_a = make_source(org)
    source_b = make_source(org)
    _signal(org, r1, a, "escalated")
    _signal(
        org,
        r1,
        b,
        "linked",
        breakdown={"window_minutes": 60, "sources": [str(source_b.pk)], "languages": []},
    )
    _signal(org, r1, None, "dismissed", dismiss_reason="false_positive")
    _signal(org, r1, None, "dismissed", dismiss_reason="benign")
    _signal(org, r1, None, "new")
    _signal(org, r2, None, "dismissed", dismiss_reason="false_positive")
    _signal(org, r2, drill, "escalated")
    _signal(org, r2, excluded, "escalated")

    baseline = [(at(hours=-12 + k), k == 0) for k in range(10)]  # 1 in 10 negative
    storm = [
        (at(hours=h, minutes=10 + k), k < negative)
        for h, negative in ((0, 8), (1, 3), (2, 1))
        for k in range(10)
    ]
    _mentions(org, source_a, baseline + storm)
    clock.move_to(NOW)
    return {
        "a": a,
        "b": b,
        "outage": outage,
        "sev1": sev1,
        "source_a": source_a,
        "source_b": source_b,
        "r1": r1,
        "r2": r2,
    }


def get(client: APIClient, section: str, **params: str) -> Any:
    response = client.get(f"/api/v1/orgs/xyz/reports/{section}", {**RANGE, **params})
    assert response.status_code == 200, response.content
    return response.json()


def test_incident_counts_by_type_and_severity(history: dict[str, Any], owner: APIClient) -> None:
    body = get(owner, "incidents/")
    assert body["total"] == {"opened": 2, "declared": 2, "resolved": 2}
    assert [(row["severity"]["rank"], row["opened"]) for row in body["by_severity"]] == [
        (1, 1),
        (2, 1),
    ]
    [outage] = body["by_crisis_type"]
    assert outage["crisis_type"]["name"] == "Service outage"
    assert (outage["opened"], outage["declared"], outage["resolved"]) == (2, 2, 2)
    assert len(body["by_crisis_type_and_severity"]) == 2


def test_mtta_mttr_first_statement_and_cadence(history: dict[str, Any], owner: APIClient) -> None:
    body = get(owner, "response/")
    assert body["incidents"] == 2
    # A: declared active at once (0 s); B: acknowledged 10 min after it was opened.
    assert body["mtta"] == {
        "count": 2,
        "mean_seconds": 300.0,
        "p50_seconds": 300.0,
        "p90_seconds": 540.0,
    }
    # A: 2 h, B: 4 h from declaration to resolution.
    assert body["mttr"] == {
        "count": 2,
        "mean_seconds": 10800.0,
        "p50_seconds": 10800.0,
        "p90_seconds": 13680.0,
    }
    assert body["time_to_first_public_statement"]["count"] == 1
    assert body["time_to_first_public_statement"]["mean_seconds"] == 1200.0
    assert body["public_update_cadence"] == {
        "updates": 2,
        "with_deadline": 2,
        "on_time": 1,
        "late": 1,
        "adherence": 0.5,
        "lapses_announced": 1,
    }


def test_filters_narrow_incident_figures(history: dict[str, Any], owner: APIClient) -> None:
    body = get(owner, "response/", severity=str(history["sev1"].pk))
    assert body["incidents"] == 1
    assert body["mttr"]["mean_seconds"] == 7200.0
    counts = get(owner, "incidents/", crisis_type=str(history["outage"].pk))
    assert counts["total"]["opened"] == 2


def test_approval_cycle_time_per_policy_step(history: dict[str, Any], owner: APIClient) -> None:
    steps = get(owner, "approvals/")["steps"]
    assert [(s["step"], s["step_name"], s["count"]) for s in steps] == [
        (0, "Legal", 2),
        (1, "Executive", 2),
    ]
    # Step 1 starts at submission: 10 min and 30 min (approvals of the old text or of an
    # earlier round are void).
    assert (steps[0]["mean_seconds"], steps[0]["p50_seconds"], steps[0]["p90_seconds"]) == (
        1200.0,
        1200.0,
        1680.0,
    )
    # Step 2 starts when step 1 completed: 30 min (the last of two approvals) and 5 min.
    assert (steps[1]["mean_seconds"], steps[1]["p50_seconds"]) == (1050.0, 1050.0)
    assert steps[0]["policy"]["name"] == "Statements"


def test_case_backlog_first_response_and_sla(history: dict[str, Any], owner: APIClient) -> None:
    body = get(owner, "cases/")
    assert (body["opened"], body["resolved"], body["backlog_at_end"], body["open_now"]) == (
        5,
        1,
        4,
        4,
    )
    # Responded after 30 min, 2 h and 15 min.
    assert body["first_response"] == {
        "count": 3,
        "mean_seconds": 3300.0,
        "p50_seconds": 1800.0,
        "p90_seconds": 6120.0,
    }
    # Met: 30 min, 15 min. Breached: 2 h late, and one still unanswered past its due time.
    assert body["sla"] == {"met": 2, "breached": 2, "pending": 1, "compliance": 0.5}


def test_signal_precision_per_rule(history: dict[str, Any], owner: APIClient) -> None:
    rules = {r["rule"]["name"]: r for r in get(owner, "signals/")["rules"]}
    spike, alarm = rules["Negative spike"], rules["Alarm words"]
    assert (spike["signals"], spike["confirmed"], spike["false_positive"]) == (5, 2, 1)
    assert (spike["dismissed_other"], spike["untriaged"]) == (1, 1)
    assert spike["precision"] == 0.6667
    assert (alarm["signals"], alarm["confirmed"], alarm["precision"]) == (1, 0, 0.0)


def test_sentiment_recovery(history: dict[str, Any], owner: APIClient) -> None:
    body = get(owner, "sentiment-recovery/")
    # A: baseline share 10 %; hourly shares after declaration 80 %, 30 %, 10 % → back at 3 h.
    # B: its rule watched a source without any baseline mentions: not measurable.
    assert (body["declared_incidents"], body["with_signal"], body["without_baseline"]) == (2, 2, 1)
    assert (body["measured"], body["recovered"], body["not_recovered"]) == (1, 1, 0)
    [a] = body["incidents"]
    assert a["incident"]["reference"] == history["a"].reference
    assert a["baseline_negative_share"] == 0.1
    assert a["recovery_seconds"] == 3 * 3600
    assert body["recovery"]["mean_seconds"] == 10800.0


def test_mention_volume_and_sentiment_per_day(history: dict[str, Any], owner: APIClient) -> None:
    days = get(owner, "mentions/")["days"]
    assert [(d["day"], d["mentions"], d["negative"]) for d in days] == [
        ("2030-02-28", 2, 1),
        ("2030-03-01", 38, 12),
        ("2030-03-02", 0, 0),
    ]
    assert days[0]["mean_sentiment"] == -0.25
    assert days[0]["negative_share"] == 0.5
    assert days[2]["negative_share"] is None
    other = get(owner, "mentions/", source=str(history["source_b"].pk))["days"]
    assert sum(d["mentions"] for d in other) == 0


def test_whole_report_has_every_section(history: dict[str, Any], owner: APIClient) -> None:
    body = get(owner, "")
    assert set(body) == {
        "incidents",
        "response",
        "approvals",
        "cases",
        "signals",
        "sentiment_recovery",
        "mentions",
    }
    assert body["response"]["incidents"] == 2
    shape = ReportOutput(data=body)  # the documented schema is what the endpoint returns
    assert shape.is_valid(), shape.errors
