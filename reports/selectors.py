"""Organisation reports, computed in PostgreSQL: one query per report section whatever the number
of incidents, mentions or cases (aggregates, FILTER, window functions, percentile_cont).

Every section counts only incidents that count in metrics (`incidents_for_metrics`: no drills,
no crisis type marked `exclude_from_metrics`), and so only the messages, cases and signals of such
incidents (or of none). Definitions of every figure: docs/reports.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import Any

from django.db import connection

from communications.models import ApprovalDecision, Message
from crisis_api.api.errors import DomainError
from incidents.models import CrisisType, Incident, Severity
from monitoring.models import Case, DetectionRule, Mention, Signal
from notifications.models import Escalation, Notification
from organisations.models import Event

RECOVERY_HORIZON_DAYS = 90


class ReportsUnavailableError(DomainError):
    """Reports use PostgreSQL's SQL (percentiles, FILTER, LATERAL); SQLite cannot run them."""

    status_code = HTTPStatus.NOT_IMPLEMENTED
    code = "reports_need_postgresql"


@dataclass(frozen=True, slots=True)
class ReportRange:
    """What a report covers: one organisation, [start, end), optional incident/mention filters."""

    organisation_id: uuid.UUID
    start: datetime
    end: datetime
    now: datetime
    crisis_type_id: uuid.UUID | None = None
    severity_id: uuid.UUID | None = None
    source_id: uuid.UUID | None = None

    def params(self) -> dict[str, Any]:
        return {
            "org": self.organisation_id,
            "start": self.start,
            "end": self.end,
            "now": self.now,
            "crisis_type": self.crisis_type_id,
            "severity": self.severity_id,
            "source": self.source_id,
            "filtered": self.crisis_type_id is not None or self.severity_id is not None,
            "horizon_days": RECOVERY_HORIZON_DAYS,
        }


T = {
    "incident": Incident._meta.db_table,
    "crisis_type": CrisisType._meta.db_table,
    "severity": Severity._meta.db_table,
    "notification": Notification._meta.db_table,
    "escalation": Escalation._meta.db_table,
    "event": Event._meta.db_table,
    "message": Message._meta.db_table,
    "decision": ApprovalDecision._meta.db_table,
    "case": Case._meta.db_table,
    "signal": Signal._meta.db_table,
    "rule": DetectionRule._meta.db_table,
    "mention": Mention._meta.db_table,
}

# An incident that counts in metrics (mirrors incidents.selectors.incidents_for_metrics).
COUNTS = "(NOT {alias}.is_drill AND NOT {ct}.exclude_from_metrics)"
# The report's crisis type / severity filters, on an incident alias.
INCIDENT_FILTERS = """
    (%(crisis_type)s::uuid IS NULL OR {alias}.crisis_type_id = %(crisis_type)s::uuid)
    AND (%(severity)s::uuid IS NULL OR {alias}.severity_id = %(severity)s::uuid)"""

INCIDENTS_IN_RANGE = f"""
    SELECT i.* FROM {T["incident"]} i
    JOIN {T["crisis_type"]} ct ON ct.id = i.crisis_type_id
    WHERE i.organisation_id = %(org)s AND {COUNTS.format(alias="i", ct="ct")}
      AND i.created_at >= %(start)s AND i.created_at < %(end)s
      AND {INCIDENT_FILTERS.format(alias="i")}"""  # noqa: S608 - model tables; values are parameters

# Rows of other tables that may name an incident (messages, cases, signals) count when they
# name none, or one that counts; with a crisis type or severity filter, only the latter.
LINKED_INCIDENT_COUNTS = f"""
    (li.id IS NULL AND NOT %(filtered)s)
    OR (li.id IS NOT NULL AND {COUNTS.format(alias="li", ct="lct")}
        AND {INCIDENT_FILTERS.format(alias="li")})"""
LINKED_INCIDENT_JOIN = f"""
    LEFT JOIN {T["incident"]} li ON li.id = {{alias}}.incident_id
    LEFT JOIN {T["crisis_type"]} lct ON lct.id = li.crisis_type_id"""


def _seconds(expression: str) -> str:
    return f"EXTRACT(EPOCH FROM ({expression}))::float8"


def _at_least_zero(seconds: str) -> str:
    """Negative durations count as 0; NULL stays NULL (GREATEST would turn it into 0)."""
    return f"(CASE WHEN {seconds} < 0 THEN 0 ELSE {seconds} END)"


def _stats(column: str, name: str, where: str = "") -> str:
    """count, mean, p50 and p90 of a seconds column (NULLs skipped), as `<name>_<stat>`."""
    flt = f" FILTER (WHERE {where})" if where else ""
    return f"""
        count({column}){flt} AS {name}_n,
        avg({column}){flt} AS {name}_mean,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY {column}){flt} AS {name}_p50,
        percentile_cont(0.9) WITHIN GROUP (ORDER BY {column}){flt} AS {name}_p90"""


def _stats_of(row: dict[str, Any], name: str) -> dict[str, Any]:
    return {
        "count": row[f"{name}_n"],
        "mean_seconds": _round(row[f"{name}_mean"]),
        "p50_seconds": _round(row[f"{name}_p50"]),
        "p90_seconds": _round(row[f"{name}_p90"]),
    }


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(float(value), digits)


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _fetch(sql: str, report: ReportRange) -> list[dict[str, Any]]:
    if connection.vendor != "postgresql":
        raise ReportsUnavailableError(
            "Reports are computed with PostgreSQL (percentiles, window functions); this "
            "deployment runs on SQLite. Point DATABASE_URL at PostgreSQL to use them."
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, report.params())
        names = [column.name for column in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# --- incidents -----------------------------------------------------------------------------------

COUNTS_SQL = f"""
    SELECT i.crisis_type_id, ct.name AS crisis_type_name, ct.slug AS crisis_type_slug,
           i.severity_id, sv.name AS severity_name, sv.rank AS severity_rank,
           count(*) AS opened,
           count(i.declared_at) AS declared,
           count(i.resolved_at) AS resolved
    FROM ({INCIDENTS_IN_RANGE}) i
    JOIN {T["crisis_type"]} ct ON ct.id = i.crisis_type_id
    JOIN {T["severity"]} sv ON sv.id = i.severity_id
    GROUP BY i.crisis_type_id, ct.name, ct.slug, i.severity_id, sv.name, sv.rank
    ORDER BY sv.rank, ct.name, i.crisis_type_id"""  # noqa: S608 - model tables; values are parameters


def incident_counts_get(*, report: ReportRange) -> dict[str, Any]:
    """Incidents opened in the range by crisis type and severity, with per-type, per-severity and
    overall totals (summed from the few grouped rows, not from incidents)."""
    rows = _fetch(COUNTS_SQL, report)
    by_type: dict[str, dict[str, Any]] = {}
    by_severity: dict[str, dict[str, Any]] = {}
    total = {"opened": 0, "declared": 0, "resolved": 0}
    matrix = []
    for row in rows:
        counts = {key: row[key] for key in total}
        crisis_type = {"id": str(row["crisis_type_id"]), "name": row["crisis_type_name"]}
        severity = {"id": str(row["severity_id"]), "name": row["severity_name"]}
        severity["rank"] = row["severity_rank"]
        matrix.append({"crisis_type": crisis_type, "severity": severity, **counts})
        for bucket, key, ref in (
            (by_type, "crisis_type", crisis_type),
            (by_severity, "severity", severity),
        ):
            entry = bucket.setdefault(ref["id"], {key: ref, "opened": 0, "declared": 0})
            entry.setdefault("resolved", 0)
            for name, value in counts.items():
                entry[name] += value
        for name, value in counts.items():
            total[name] += value
    return {
        "total": total,
        "by_crisis_type": sorted(by_type.values(), key=lambda e: e["crisis_type"]["name"]),
        "by_severity": sorted(by_severity.values(), key=lambda e: e["severity"]["rank"]),
        "by_crisis_type_and_severity": matrix,
    }


RESPONSE_SQL = f"""
    WITH inc AS ({INCIDENTS_IN_RANGE}),
    per AS (
        SELECT inc.id,
            {_seconds("LEAST(inc.declared_at, n.acked_at, e.acked_at) - inc.created_at")} AS tta,
            {_seconds("inc.resolved_at - inc.declared_at")} AS ttr,
            {_at_least_zero(_seconds("fs.first_at - inc.declared_at"))} AS tfs
        FROM inc
        LEFT JOIN LATERAL (
            SELECT min(acknowledged_at) AS acked_at FROM {T["notification"]}
            WHERE incident_id = inc.id) n ON true
        LEFT JOIN LATERAL (
            SELECT min(acknowledged_at) AS acked_at FROM {T["escalation"]}
            WHERE incident_id = inc.id) e ON true
        LEFT JOIN LATERAL (
            SELECT min(occurred_at) AS first_at FROM {T["event"]} ev
            WHERE ev.organisation_id = %(org)s AND ev.subject_type = 'incident'
              AND ev.subject_id = inc.id::text AND ev.type = 'incident.public_update_recorded'
        ) fs ON inc.declared_at IS NOT NULL
    )
    SELECT count(*) AS incidents,
        {_stats("tta", "mtta")},
        {_stats("ttr", "mttr")},
        {_stats("tfs", "first_statement")}
    FROM per"""  # noqa: S608 - model tables; values are parameters

CADENCE_SQL = f"""
    WITH inc AS ({INCIDENTS_IN_RANGE})
    SELECT
        count(*) FILTER (WHERE ev.type = 'incident.public_update_recorded') AS updates,
        count(*) FILTER (WHERE ev.type = 'incident.public_update_recorded'
                         AND ev.payload->>'on_time' IS NOT NULL) AS with_deadline,
        count(*) FILTER (WHERE ev.payload->>'on_time' = 'true') AS on_time,
        count(*) FILTER (WHERE ev.payload->>'on_time' = 'false') AS late,
        count(*) FILTER (WHERE ev.type = 'incident.public_update_overdue') AS lapses
    FROM {T["event"]} ev
    JOIN inc ON ev.subject_id = inc.id::text
    WHERE ev.organisation_id = %(org)s AND ev.subject_type = 'incident'
      AND ev.type IN ('incident.public_update_recorded', 'incident.public_update_overdue')"""  # noqa: S608 - model tables; values are parameters


def incident_response_get(*, report: ReportRange) -> dict[str, Any]:
    """MTTA, MTTR, time to first public statement and public-update cadence adherence."""
    [row] = _fetch(RESPONSE_SQL, report)
    [cadence] = _fetch(CADENCE_SQL, report)
    return {
        "incidents": row["incidents"],
        "mtta": _stats_of(row, "mtta"),
        "mttr": _stats_of(row, "mttr"),
        "time_to_first_public_statement": _stats_of(row, "first_statement"),
        "public_update_cadence": {
            "updates": cadence["updates"],
            "with_deadline": cadence["with_deadline"],
            "on_time": cadence["on_time"],
            "late": cadence["late"],
            "adherence": _ratio(cadence["on_time"], cadence["with_deadline"]),
            "lapses_announced": cadence["lapses"],
        },
    }


# --- approvals -----------------------------------------------------------------------------------

APPROVALS_SQL = f"""
    WITH msg AS (
        SELECT m.id, m.submitted_at, m.approved_hash, m.policy_snapshot
        FROM {T["message"]} m {LINKED_INCIDENT_JOIN.format(alias="m")}
        WHERE m.organisation_id = %(org)s AND m.approved_hash <> ''
          AND m.submitted_at >= %(start)s AND m.submitted_at < %(end)s
          AND ({LINKED_INCIDENT_COUNTS})
    ),
    steps AS (
        SELECT d.message_id, d.step, max(d.decided_at) AS done_at
        FROM {T["decision"]} d JOIN msg ON msg.id = d.message_id
        WHERE d.decision = 'approve' AND d.content_hash = msg.approved_hash
          AND d.round_started_at = msg.submitted_at
        GROUP BY d.message_id, d.step
    ),
    timed AS (
        SELECT steps.step, steps.done_at, msg.policy_snapshot AS snap,
            COALESCE(lag(steps.done_at) OVER (PARTITION BY steps.message_id ORDER BY steps.step),
                     msg.submitted_at) AS started_at
        FROM steps JOIN msg ON msg.id = steps.message_id
    )
    SELECT COALESCE(snap->>'id', '') AS policy_id, COALESCE(snap->>'name', '') AS policy_name,
        step, COALESCE(snap->'steps'->step->>'name', '') AS step_name,
        {_stats(_at_least_zero(_seconds("done_at - started_at")), "cycle")}
    FROM timed
    GROUP BY 1, 2, 3, 4
    ORDER BY 2, 1, 3"""  # noqa: S608 - model tables; values are parameters


def approval_cycles_get(*, report: ReportRange) -> dict[str, Any]:
    """Approval cycle time per policy step, over messages submitted in the range and approved."""
    rows = _fetch(APPROVALS_SQL, report)
    return {
        "steps": [
            {
                "policy": {"id": row["policy_id"] or None, "name": row["policy_name"]},
                "step": row["step"],
                "step_name": row["step_name"],
                **_stats_of(row, "cycle"),
            }
            for row in rows
        ]
    }


# --- complaint cases -----------------------------------------------------------------------------

CASES_SQL = f"""
    WITH c AS (
        SELECT c.* FROM {T["case"]} c {LINKED_INCIDENT_JOIN.format(alias="c")}
        WHERE c.organisation_id = %(org)s AND ({LINKED_INCIDENT_COUNTS})
    ),
    opened AS (
        SELECT *, {_seconds("first_responded_at - created_at")} AS frt FROM c
        WHERE created_at >= %(start)s AND created_at < %(end)s
    )
    SELECT
        (SELECT count(*) FROM c WHERE created_at < %(end)s
            AND (resolved_at IS NULL OR resolved_at >= %(end)s)
            AND (closed_at IS NULL OR closed_at >= %(end)s)) AS backlog_at_end,
        (SELECT count(*) FROM c
            WHERE status IN ('new', 'assigned', 'responded', 'awaiting_customer')) AS open_now,
        (SELECT count(*) FROM c
            WHERE resolved_at >= %(start)s AND resolved_at < %(end)s) AS resolved,
        count(*) AS opened,
        count(first_responded_at) AS responded,
        {_stats("frt", "first_response")},
        count(*) FILTER (WHERE first_responded_at <= first_response_due_at) AS sla_met,
        count(*) FILTER (WHERE first_responded_at > first_response_due_at
            OR (first_responded_at IS NULL AND first_response_due_at < %(now)s)) AS sla_breached,
        count(*) FILTER (WHERE first_responded_at IS NULL
            AND first_response_due_at >= %(now)s) AS sla_pending
    FROM opened"""  # noqa: S608 - model tables; values are parameters


def case_figures_get(*, report: ReportRange) -> dict[str, Any]:
    """Complaint cases: backlog, first-response time percentiles and first-response SLA."""
    [row] = _fetch(CASES_SQL, report)
    met, breached = row["sla_met"], row["sla_breached"]
    return {
        "backlog_at_end": row["backlog_at_end"],
        "open_now": row["open_now"],
        "opened": row["opened"],
        "resolved": row["resolved"],
        "first_response": _stats_of(row, "first_response"),
        "sla": {
            "met": met,
            "breached": breached,
            "pending": row["sla_pending"],
            "compliance": _ratio(met, met + breached),
        },
    }


# --- signals -------------------------------------------------------------------------------------

SIGNALS_SQL = f"""
    SELECT s.rule_id, (array_agg(s.rule_name ORDER BY s.created_at DESC))[1] AS rule_name,
        count(*) AS signals,
        count(*) FILTER (WHERE s.status IN ('escalated', 'linked')) AS confirmed,
        count(*) FILTER (WHERE s.status = 'dismissed'
                         AND s.dismiss_reason = 'false_positive') AS false_positive,
        count(*) FILTER (WHERE s.status = 'dismissed'
                         AND s.dismiss_reason <> 'false_positive') AS dismissed_other,
        count(*) FILTER (WHERE s.status IN ('new', 'snoozed')) AS untriaged
    FROM {T["signal"]} s {LINKED_INCIDENT_JOIN.format(alias="s")}
    WHERE s.organisation_id = %(org)s AND s.created_at >= %(start)s AND s.created_at < %(end)s
      AND ({LINKED_INCIDENT_COUNTS})
    GROUP BY s.rule_id
    ORDER BY 2, 1"""  # noqa: S608 - model tables; values are parameters


def signal_precision_get(*, report: ReportRange) -> dict[str, Any]:
    """Per rule: signals raised in the range and the share confirmed among those triaged as
    confirmed (escalated or linked) or false positive."""
    return {
        "rules": [
            {
                "rule": {
                    "id": str(row["rule_id"]) if row["rule_id"] else None,
                    "name": row["rule_name"],
                },
                "signals": row["signals"],
                "confirmed": row["confirmed"],
                "false_positive": row["false_positive"],
                "dismissed_other": row["dismissed_other"],
                "untriaged": row["untriaged"],
                "precision": _ratio(row["confirmed"], row["confirmed"] + row["false_positive"]),
            }
            for row in _fetch(SIGNALS_SQL, report)
        ]
    }


# --- sentiment recovery --------------------------------------------------------------------------

# Mentions a signal's rule watched: its sources and languages as recorded in the breakdown.
WATCHED = """
    (jsonb_array_length({sig}.sources) = 0
        OR m.source_id::text IN (SELECT jsonb_array_elements_text({sig}.sources)))
    AND (jsonb_array_length({sig}.languages) = 0
        OR m.language IN (SELECT jsonb_array_elements_text({sig}.languages)))"""

RECOVERY_SQL = f"""
    WITH inc AS ({INCIDENTS_IN_RANGE} AND i.declared_at IS NOT NULL),
    sig AS (
        SELECT DISTINCT ON (s.incident_id) s.incident_id, s.rule_name, s.window_start,
            inc.declared_at, inc.number,
            GREATEST(COALESCE((s.breakdown->>'window_minutes')::int, r.window_minutes, 60), 1)
                * 60.0 AS w,
            COALESCE(r.baseline_minutes, 720) AS baseline_minutes,
            COALESCE(s.breakdown->'sources', '[]'::jsonb) AS sources,
            COALESCE(s.breakdown->'languages', '[]'::jsonb) AS languages,
            LEAST(%(now)s::timestamptz, inc.declared_at + make_interval(days => %(horizon_days)s))
                AS horizon
        FROM {T["signal"]} s
        JOIN inc ON inc.id = s.incident_id
        LEFT JOIN {T["rule"]} r ON r.id = s.rule_id
        WHERE s.organisation_id = %(org)s
        ORDER BY s.incident_id, s.created_at, s.id
    ),
    base AS (
        SELECT sig.*, b.total AS base_total, b.negative AS base_negative
        FROM sig
        CROSS JOIN LATERAL (
            SELECT count(*) AS total,
                count(*) FILTER (WHERE m.sentiment_label = 'negative') AS negative
            FROM {T["mention"]} m
            WHERE m.organisation_id = %(org)s
              AND m.posted_at >= sig.window_start - make_interval(mins => sig.baseline_minutes)
              AND m.posted_at < sig.window_start AND {WATCHED.format(sig="sig")}
        ) b
    ),
    buckets AS (
        SELECT base.incident_id,
            floor({_seconds("m.posted_at - base.declared_at")} / base.w)::int AS k,
            count(*) AS total,
            count(*) FILTER (WHERE m.sentiment_label = 'negative') AS negative
        FROM base
        JOIN {T["mention"]} m ON m.organisation_id = %(org)s
            AND m.posted_at >= base.declared_at AND m.posted_at < base.horizon
            AND {WATCHED.format(sig="base")}
        WHERE base.base_total > 0
        GROUP BY 1, 2
    ),
    ranked AS (
        SELECT buckets.*,
            row_number() OVER (PARTITION BY incident_id ORDER BY k) - 1 AS position
        FROM buckets
    ),
    per AS (
        SELECT base.incident_id, base.number, base.rule_name, base.w, base.base_total,
            base.base_negative, base.declared_at, base.horizon,
            LEAST(
                (SELECT min(k) FROM ranked r WHERE r.incident_id = base.incident_id
                    AND r.negative * base.base_total <= base.base_negative * r.total),
                COALESCE(
                    (SELECT min(position) FROM ranked r
                        WHERE r.incident_id = base.incident_id AND r.k <> r.position),
                    (SELECT count(*) FROM ranked r WHERE r.incident_id = base.incident_id))
            ) AS k
        FROM base WHERE base.base_total > 0
    ),
    result AS (
        SELECT per.*,
            CASE WHEN (per.k + 1) * per.w <= {_seconds("per.horizon - per.declared_at")}
                THEN (per.k + 1) * per.w END AS recovery
        FROM per
    )
    SELECT
        (SELECT count(*) FROM inc) AS declared,
        (SELECT count(*) FROM sig) AS with_signal,
        (SELECT count(*) FROM base WHERE base_total = 0) AS no_baseline,
        count(*) AS measured,
        count(recovery) AS recovered,
        {_stats("recovery", "recovery")},
        COALESCE(json_agg(json_build_object(
            'incident_id', incident_id, 'number', number, 'rule_name', rule_name,
            'baseline_negative_share', base_negative::float8 / base_total,
            'window_seconds', w, 'recovery_seconds', recovery
        ) ORDER BY number), '[]'::json) AS incidents
    FROM result"""  # noqa: S608 - model tables; values are parameters


def sentiment_recovery_get(*, report: ReportRange) -> dict[str, Any]:
    """Per declared incident with a signal: time from declaration until the negative share of
    the signal rule's mentions is back at or under that rule's baseline share."""
    [row] = _fetch(RECOVERY_SQL, report)
    return {
        "declared_incidents": row["declared"],
        "with_signal": row["with_signal"],
        "without_baseline": row["no_baseline"],
        "measured": row["measured"],
        "recovered": row["recovered"],
        "not_recovered": row["measured"] - row["recovered"],
        "recovery": _stats_of(row, "recovery"),
        "incidents": [
            {
                "incident": {"id": item["incident_id"], "reference": f"INC-{item['number']}"},
                "rule_name": item["rule_name"],
                "baseline_negative_share": round(item["baseline_negative_share"], 4),
                "window_seconds": int(item["window_seconds"]),
                "recovery_seconds": item["recovery_seconds"],
            }
            for item in row["incidents"]
        ],
    }


# --- mentions ------------------------------------------------------------------------------------

MENTIONS_SQL = f"""
    WITH days AS (
        SELECT generate_series(
            (%(start)s::timestamptz AT TIME ZONE 'UTC')::date,
            ((%(end)s::timestamptz - interval '1 microsecond') AT TIME ZONE 'UTC')::date,
            interval '1 day')::date AS day
    ),
    counted AS (
        SELECT (m.posted_at AT TIME ZONE 'UTC')::date AS day, count(*) AS mentions,
            count(*) FILTER (WHERE m.sentiment_label = 'negative') AS negative,
            count(*) FILTER (WHERE m.sentiment_label = 'neutral') AS neutral,
            count(*) FILTER (WHERE m.sentiment_label = 'positive') AS positive,
            avg(m.sentiment) AS mean_sentiment
        FROM {T["mention"]} m
        WHERE m.organisation_id = %(org)s AND m.posted_at >= %(start)s AND m.posted_at < %(end)s
          AND (%(source)s::uuid IS NULL OR m.source_id = %(source)s::uuid)
        GROUP BY 1
    )
    SELECT days.day, COALESCE(c.mentions, 0) AS mentions, COALESCE(c.negative, 0) AS negative,
        COALESCE(c.neutral, 0) AS neutral, COALESCE(c.positive, 0) AS positive, c.mean_sentiment
    FROM days LEFT JOIN counted c ON c.day = days.day
    ORDER BY days.day"""  # noqa: S608 - model tables; values are parameters


def mention_days_get(*, report: ReportRange) -> dict[str, Any]:
    """Mention volume and sentiment per UTC day of the range (days without mentions included)."""
    return {
        "days": [
            {
                "day": row["day"].isoformat(),
                "mentions": row["mentions"],
                "negative": row["negative"],
                "neutral": row["neutral"],
                "positive": row["positive"],
                "negative_share": _ratio(row["negative"], row["mentions"]),
                "mean_sentiment": _round(row["mean_sentiment"], 4),
            }
            for row in _fetch(MENTIONS_SQL, report)
        ]
    }


SECTIONS: dict[str, Callable[..., dict[str, Any]]] = {
    "incidents": incident_counts_get,
    "response": incident_response_get,
    "approvals": approval_cycles_get,
    "cases": case_figures_get,
    "signals": signal_precision_get,
    "sentiment-recovery": sentiment_recovery_get,
    "mentions": mention_days_get,
}


def report_get(*, report: ReportRange) -> dict[str, Any]:
    """Every section at once (a fixed number of queries: one or two per section)."""
    return {name.replace("-", "_"): section(report=report) for name, section in SECTIONS.items()}
