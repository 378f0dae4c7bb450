"""Detection rules: configuration, and evaluation of a rule against the mention stream.

Every count is computed by the database in one aggregate query per rule (a FILTERed COUNT per
window and baseline window), so evaluating a rule costs the same whatever the mention volume.
A rule is evaluated under a lock on its row; it fires at most once per cooldown, and the
signal's dedupe key (rule + cooldown period) is unique, so two racing evaluations (the ingest
hook and the minute sweep, say) raise one signal and act once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, models, transaction
from django.db.models import Count, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast
from django.utils import timezone

from crisis_api.api.errors import DomainError
from monitoring.models import DetectionRule, Mention, Signal, WatchTerm
from organisations.events import Actor, event_record
from organisations.models import Organisation

R = DetectionRule
MAX_BASELINE_WINDOWS = 168
GROUP_WINDOWS_IN_DATABASE = True  # tests switch it off to cover the portable path
SAMPLE_SIZE = 10
DETECTION = Actor.system("detection")
NEGATIVE = Q(sentiment_label=Mention.SentimentLabel.NEGATIVE)

# Which methods make sense for which metric (the others are refused when a rule is saved).
METHODS: dict[str, tuple[str, ...]] = {
    R.Metric.NEGATIVE_VOLUME: (R.Method.THRESHOLD, R.Method.RATIO, R.Method.ZSCORE),
    R.Metric.NEGATIVE_SHARE: (R.Method.THRESHOLD, R.Method.RATIO),
    R.Metric.ALARM_KEYWORD: (R.Method.THRESHOLD,),
    R.Metric.HIGH_REACH_NEGATIVE: (R.Method.THRESHOLD,),
}
RULE_FIELDS = (
    "name",
    "description",
    "metric",
    "method",
    "threshold",
    "window_minutes",
    "baseline_minutes",
    "min_volume",
    "min_followers",
    "keywords",
    "languages",
    "sources",
    "cooldown_minutes",
    "mode",
    "action",
    "crisis_type",
    "severity",
)


class RuleConfigError(DomainError):
    """The rule's settings contradict each other (e.g. z-score on a keyword rule)."""

    code = "invalid_rule"


# --- configuration ------------------------------------------------------------------------------


def _validate(rule: DetectionRule) -> None:
    if rule.method not in METHODS[rule.metric]:
        allowed = ", ".join(METHODS[rule.metric])
        raise RuleConfigError(f"A {rule.metric} rule takes the method {allowed}.", field="method")
    if rule.metric == R.Metric.NEGATIVE_SHARE and rule.method == R.Method.THRESHOLD:
        if not 0 < rule.threshold <= 1:
            raise RuleConfigError("A share threshold is between 0 and 1.", field="threshold")
    elif rule.threshold <= 0:
        raise RuleConfigError("The threshold must be positive.", field="threshold")
    if rule.method in (R.Method.RATIO, R.Method.ZSCORE):
        if rule.baseline_minutes < rule.window_minutes:
            raise RuleConfigError(
                "The baseline must be at least one window long.", field="baseline_minutes"
            )
        if rule.baseline_minutes // rule.window_minutes > MAX_BASELINE_WINDOWS:
            raise RuleConfigError(
                f"The baseline may span at most {MAX_BASELINE_WINDOWS} windows.",
                field="baseline_minutes",
            )
    if rule.action == R.Action.AUTO_DECLARE and (rule.crisis_type is None or rule.severity is None):
        raise RuleConfigError(
            "A rule that declares incidents names their crisis type and severity.", field="action"
        )


def _rule_payload(rule: DetectionRule) -> dict[str, Any]:
    return {
        "rule": {"id": str(rule.pk), "name": rule.name},
        "metric": rule.metric,
        "method": rule.method,
        "threshold": rule.threshold,
        "mode": rule.mode,
        "action": rule.action,
    }


def _record_rule(rule: DetectionRule, actor: Actor, type: str, extra: dict[str, Any]) -> None:
    event_record(
        organisation=rule.organisation,
        actor=actor,
        type=type,
        subject=("detection_rule", str(rule.pk)),
        payload={**_rule_payload(rule), **extra},
    )


@transaction.atomic
def rule_create(*, organisation: Organisation, actor: Actor, **fields: Any) -> DetectionRule:
    """Add a rule; it starts in monitor mode unless told otherwise, so it can be tuned first."""
    sources = fields.pop("sources", [])
    rule = DetectionRule(organisation=organisation, created_by_id=actor.user_id, **fields)
    rule.updated_at = rule.created_at
    _validate(rule)
    rule.save(force_insert=True)
    rule.sources.set(sources)
    _record_rule(rule, actor, "detection_rule.created", {})
    return rule


@transaction.atomic
def rule_update(*, rule: DetectionRule, actor: Actor, **fields: Any) -> DetectionRule:
    """Change a rule's settings or mode (monitor ↔ active ↔ disabled)."""
    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise DomainError(f"Not editable: {', '.join(sorted(unknown))}.")
    rule = DetectionRule.all_tenants.select_for_update().get(pk=rule.pk)
    changes: dict[str, Any] = {}
    sources = fields.pop("sources", None)
    for name, value in fields.items():
        old = getattr(rule, name)
        if old != value:
            changes[name] = {"from": _plain(old), "to": _plain(value)}
            setattr(rule, name, value)
    _validate(rule)
    if sources is not None:
        before = {str(pk) for pk in rule.sources.values_list("pk", flat=True)}
        after = {str(source.pk) for source in sources}
        if before != after:
            rule.sources.set(sources)
            changes["sources"] = {"from": sorted(before), "to": sorted(after)}
    if changes:
        rule.updated_at = timezone.now()
        rule.save()
        _record_rule(rule, actor, "detection_rule.updated", {"changes": changes})
    return rule


@transaction.atomic
def rule_delete(*, rule: DetectionRule, actor: Actor) -> None:
    """Delete a rule; its signals stay (they keep the rule's name)."""
    _record_rule(rule, actor, "detection_rule.deleted", {})
    rule.delete()


def _plain(value: Any) -> Any:
    if isinstance(value, models.Model):
        return str(value.pk)
    return value


# --- measuring ----------------------------------------------------------------------------------


@dataclass
class Measurement:
    """What one evaluation saw: the value, its baseline, and whether the rule fires."""

    observed: float
    baseline: float | None
    score: float
    fires: bool
    window_start: datetime
    window_end: datetime
    breakdown: dict[str, Any] = field(default_factory=dict)
    sample: Q = field(default_factory=Q)


def _scoped_mentions(rule: DetectionRule, source_ids: list[Any]) -> QuerySet[Mention]:
    mentions = Mention.all_tenants.filter(organisation_id=rule.organisation_id)
    if source_ids:
        mentions = mentions.filter(source_id__in=source_ids)
    if rule.languages:
        mentions = mentions.filter(language__in=rule.languages)
    return mentions


def _between(start: datetime, end: datetime) -> Q:
    return Q(posted_at__gte=start, posted_at__lt=end)


def _negative_per_window(
    mentions: QuerySet[Mention], *, end: datetime, window: timedelta, windows: int
) -> list[int]:
    """Negative mentions in each of `windows` consecutive windows ending at `end`, newest
    first, in one query. PostgreSQL groups rows by window index (one expression per row,
    whatever the number of windows); other databases (SQLite for `make run`) take one
    FILTERed COUNT per window."""
    since = end - window * windows
    negative = mentions.filter(NEGATIVE, posted_at__gte=since, posted_at__lt=end)
    if connection.vendor == "postgresql" and GROUP_WINDOWS_IN_DATABASE:
        # Window i holds [end - (i+1)w, end - iw): i = ceil((end - posted_at) / w) - 1.
        column = f'"{Mention._meta.db_table}"."posted_at"'
        index = RawSQL(  # noqa: S611 - constant SQL; the values are parameters
            f"CEIL(EXTRACT(EPOCH FROM (%s - {column})) / %s)::int - 1",
            (end, window.total_seconds()),
            output_field=models.IntegerField(),
        )
        rows = negative.annotate(i=index).values("i").annotate(n=Count("pk")).order_by()
        counts = {row["i"]: row["n"] for row in rows}
        return [int(counts.get(i, 0)) for i in range(windows)]
    aggregates = {
        f"w{i}": Count("pk", filter=_between(end - (i + 1) * window, end - i * window))
        for i in range(windows)
    }
    row = negative.aggregate(**aggregates)
    return [int(row[f"w{i}"]) for i in range(windows)]


def _measure_volume(rule: DetectionRule, mentions: QuerySet[Mention], now: datetime) -> Measurement:
    w = rule.window
    end = now + timedelta(microseconds=1)  # the window includes `now`
    start = end - w
    n = max(1, rule.baseline_minutes // rule.window_minutes)
    if rule.method == R.Method.THRESHOLD:
        n = 0
    per_window = _negative_per_window(mentions, end=end, window=w, windows=n + 1)
    observed = float(per_window[0])
    buckets = per_window[:0:-1]  # the baseline windows, oldest first
    breakdown: dict[str, Any] = {
        "negative_in_window": int(observed),
        "min_volume": rule.min_volume,
        "baseline_windows": buckets,
    }
    enough = observed >= rule.min_volume
    if rule.method == R.Method.THRESHOLD:
        score = observed / rule.threshold
        fires, baseline = enough and observed >= rule.threshold, None
    else:
        mean = sum(buckets) / len(buckets)
        baseline = mean
        if rule.method == R.Method.RATIO:
            # A quiet baseline counts as one per window, so 2 after 0 is not "infinitely" more.
            score = observed / max(mean, 1.0)
            breakdown["ratio"] = round(score, 4)
            fires = enough and score >= rule.threshold
        else:
            std = math.sqrt(sum((b - mean) ** 2 for b in buckets) / len(buckets))
            # A flat baseline has no spread; Poisson noise (√mean, at least 1) stands in for it.
            sigma = max(std, math.sqrt(mean), 1.0)
            score = (observed - mean) / sigma
            breakdown.update(std=round(std, 4), sigma=round(sigma, 4), z=round(score, 4))
            fires = enough and score >= rule.threshold
        breakdown["baseline_mean"] = round(mean, 4)
    return Measurement(
        observed, baseline, score, fires, start, end, breakdown, NEGATIVE & _between(start, end)
    )


def _measure_share(rule: DetectionRule, mentions: QuerySet[Mention], now: datetime) -> Measurement:
    end = now + timedelta(microseconds=1)
    start = end - rule.window
    base_start = start - timedelta(minutes=rule.baseline_minutes)
    row = mentions.filter(posted_at__gte=base_start, posted_at__lt=end).aggregate(
        total=Count("pk", filter=_between(start, end)),
        negative=Count("pk", filter=NEGATIVE & _between(start, end)),
        base_total=Count("pk", filter=_between(base_start, start)),
        base_negative=Count("pk", filter=NEGATIVE & _between(base_start, start)),
    )
    total, negative = int(row["total"]), int(row["negative"])
    share = negative / total if total else 0.0
    base_share = row["base_negative"] / row["base_total"] if row["base_total"] else None
    breakdown = {
        "mentions_in_window": total,
        "negative_in_window": negative,
        "share": round(share, 4),
        "min_volume": rule.min_volume,
        "baseline_mentions": int(row["base_total"]),
        "baseline_negative": int(row["base_negative"]),
    }
    enough = total >= rule.min_volume
    if rule.method == R.Method.RATIO:
        # Against a baseline without mentions, a share of 5% stands in (one in twenty).
        reference = max(base_share or 0.0, 0.05)
        score = share / reference
        fires = enough and score >= rule.threshold
        breakdown["ratio"] = round(score, 4)
    else:
        score = share / rule.threshold
        fires = enough and share >= rule.threshold
    return Measurement(
        share, base_share, score, fires, start, end, breakdown, NEGATIVE & _between(start, end)
    )


def _alarm_match(rule: DetectionRule) -> tuple[Q, dict[str, Any]]:
    """Mentions that hit one of the organisation's alarm watch terms or the rule's keywords."""
    terms = list(
        WatchTerm.all_tenants.filter(
            organisation_id=rule.organisation_id, kind=WatchTerm.Kind.ALARM
        ).values_list("pk", "phrase")
    )
    match = Q(pk__in=[])
    for pk, _phrase in terms:  # term ids are UUIDs: unambiguous in the hits' JSON text
        match |= Q(terms_text__contains=str(pk))
    for keyword in rule.keywords:
        match |= Q(text__icontains=keyword)
    return match, {"alarm_terms": [phrase for _, phrase in terms], "keywords": rule.keywords}


def _measure_hits(rule: DetectionRule, mentions: QuerySet[Mention], now: datetime) -> Measurement:
    end = now + timedelta(microseconds=1)
    start = end - rule.window
    if rule.metric == R.Metric.ALARM_KEYWORD:
        match, breakdown = _alarm_match(rule)
        mentions = mentions.annotate(terms_text=Cast("matched_terms", models.TextField()))
    else:
        match = NEGATIVE & Q(author_followers__gte=rule.min_followers)
        breakdown = {"min_followers": rule.min_followers}
    row = mentions.filter(_between(start, end)).aggregate(
        hits=Count("pk", filter=match), total=Count("pk")
    )
    observed = float(row["hits"])
    needed = max(rule.threshold, float(rule.min_volume), 1.0)
    breakdown.update(hits=int(observed), mentions_in_window=int(row["total"]), needed=needed)
    fires = observed >= needed
    return Measurement(observed, None, observed / needed, fires, start, end, breakdown, match)


def rule_measure(rule: DetectionRule, *, now: datetime | None = None) -> Measurement:
    """Compute the rule's metric over its window (and baseline) right now, in the database."""
    now = now or timezone.now()
    watched = DetectionRule.sources.through.objects.filter(detectionrule_id=rule.pk)
    source_ids = list(watched.values_list("source_id", flat=True))
    mentions = _scoped_mentions(rule, source_ids)
    if rule.metric == R.Metric.NEGATIVE_VOLUME:
        measurement = _measure_volume(rule, mentions, now)
    elif rule.metric == R.Metric.NEGATIVE_SHARE:
        measurement = _measure_share(rule, mentions, now)
    else:
        measurement = _measure_hits(rule, mentions, now)
    measurement.breakdown.update(
        metric=rule.metric,
        method=rule.method,
        threshold=rule.threshold,
        window_minutes=rule.window_minutes,
        sources=[str(pk) for pk in source_ids],
        languages=rule.languages,
    )
    return measurement


def _sample_ids(rule: DetectionRule, measurement: Measurement) -> list[str]:
    """The most telling mentions of the window: the rule's matches, widest reach and most
    negative first."""
    mentions = _scoped_mentions(rule, measurement.breakdown["sources"])
    if rule.metric == R.Metric.ALARM_KEYWORD:
        mentions = mentions.annotate(terms_text=Cast("matched_terms", models.TextField()))
    ids = (
        mentions.filter(_between(measurement.window_start, measurement.window_end))
        .filter(measurement.sample)
        .order_by(models.F("author_followers").desc(nulls_last=True), "sentiment", "-posted_at")
        .values_list("pk", flat=True)[:SAMPLE_SIZE]
    )
    return [str(pk) for pk in ids]


# --- evaluating ---------------------------------------------------------------------------------


def _dedupe_key(rule: DetectionRule, now: datetime) -> str:
    period = int(now.timestamp() // max(rule.cooldown.total_seconds(), 60))
    return f"{rule.pk}:{period}"


def rule_evaluate(*, rule_id: Any, now: datetime | None = None) -> Signal | None:
    """Evaluate one rule; when it fires outside its cooldown, raise a signal and act on it.

    Returns the new signal, or None (quiet, cooling down, snoozed, or raised by a concurrent
    evaluation)."""
    from monitoring.services.signals import signal_act

    now = now or timezone.now()
    with transaction.atomic():
        rule = (
            DetectionRule.all_tenants.select_for_update(of=("self",))
            .select_related("organisation", "crisis_type", "severity")
            .exclude(mode=R.Mode.DISABLED)
            .filter(pk=rule_id)
            .first()
        )
        if rule is None:
            return None
        measurement = rule_measure(rule, now=now)
        rule.last_evaluated_at = now
        quiet = not measurement.fires or (
            rule.last_fired_at is not None and now - rule.last_fired_at < rule.cooldown
        )
        if not quiet:
            quiet = Signal.all_tenants.filter(
                rule=rule, status=Signal.Status.SNOOZED, snoozed_until__gt=now
            ).exists()
        if quiet:
            rule.save(update_fields=("last_evaluated_at",))
            return None
        try:
            with transaction.atomic():
                signal = Signal.all_tenants.create(
                    organisation=rule.organisation,
                    rule=rule,
                    rule_name=rule.name,
                    metric=rule.metric,
                    mode=rule.mode,
                    dedupe_key=_dedupe_key(rule, now),
                    window_start=measurement.window_start,
                    window_end=measurement.window_end,
                    observed=measurement.observed,
                    baseline=measurement.baseline,
                    score=round(measurement.score, 6),
                    breakdown=measurement.breakdown,
                    sample_mention_ids=_sample_ids(rule, measurement),
                    created_at=now,
                    updated_at=now,
                )
        except IntegrityError:  # this period's signal exists: raised by a concurrent run
            return None
        rule.last_fired_at = now
        rule.save(update_fields=("last_evaluated_at", "last_fired_at"))
        signal.rule = rule
        signal_act(signal=signal, rule=rule)
        signal.refresh_from_db()
        return signal


def rules_evaluate(*, organisation_id: Any, now: datetime | None = None) -> int:
    """Evaluate every enabled rule of one organisation; the number of signals raised."""
    rule_ids = list(
        DetectionRule.all_tenants.filter(organisation_id=organisation_id)
        .exclude(mode=R.Mode.DISABLED)
        .values_list("pk", flat=True)
    )
    return sum(rule_evaluate(rule_id=pk, now=now) is not None for pk in rule_ids)


def rules_sweep(*, now: datetime | None = None) -> int:
    """Evaluate every enabled rule of every organisation (the minute sweep: time moves windows
    even when no mention arrives)."""
    rule_ids = list(
        DetectionRule.all_tenants.exclude(mode=R.Mode.DISABLED)
        .filter(organisation__suspended_at__isnull=True)
        .values_list("pk", flat=True)
    )
    return sum(rule_evaluate(rule_id=pk, now=now) is not None for pk in rule_ids)


def signal_payload(signal: Signal) -> dict[str, Any]:
    """The signal as events and webhooks carry it."""
    return {
        "signal": {"id": str(signal.pk), "status": signal.status, "mode": signal.mode},
        "rule": {"id": str(signal.rule_id) if signal.rule_id else None, "name": signal.rule_name},
        "metric": signal.metric,
        "observed": signal.observed,
        "baseline": signal.baseline,
        "score": signal.score,
        "window_start": signal.window_start,
        "window_end": signal.window_end,
        "sample_mention_ids": signal.sample_mention_ids,
    }


def signal_record(signal: Signal, actor: Actor, type: str, extra: dict[str, Any]) -> None:
    """An event whose subject is the signal."""
    event_record(
        organisation=signal.organisation,
        actor=actor,
        type=type,
        subject=("signal", str(signal.pk)),
        payload={**signal_payload(signal), **extra},
    )
