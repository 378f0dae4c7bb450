"""Rule evaluation cost: each metric's evaluation (one aggregate query per rule) against the
floor of one plain COUNT(*) over the same rows, in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crisis_api_detect \\
        .venv/bin/python bench/detection.py [--mentions 100000] [--rounds 15]

Seeds a throw-away organisation (deleted at the end) with `--mentions` mentions spread over the
last 13 hours (a third negative, some with alarm-term hits, a few high-reach authors), then for
each rule kind times `rule_measure` (what every evaluation runs; nothing is recorded) and the
floor `SELECT count(*) … WHERE organisation AND posted_at in the same 13 h`, interleaved, and
prints the medians, their ratio and the queries per evaluation. Repeat with a tenth of the
mentions to see how the cost grows with the rows the window covers.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crisis_api.settings")
os.environ.setdefault("DJANGO_ENV", "test")

import django

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from monitoring.models import DetectionRule, Mention, Source, WatchTerm  # noqa: E402
from monitoring.services.detection import rule_measure  # noqa: E402
from organisations.models import Organisation  # noqa: E402

R = DetectionRule


def seed(count: int) -> Organisation:
    organisation = Organisation.objects.create(
        name="Detection bench", slug=f"bench-detect-{uuid.uuid4().hex[:8]}"
    )
    source = Source.all_tenants.create(organisation=organisation, kind="push", name="bench")
    terms = [
        WatchTerm.all_tenants.create(organisation=organisation, phrase=f"alarm {n}", kind="alarm")
        for n in range(10)
    ]
    now, span = timezone.now(), timedelta(hours=13).total_seconds()
    rng = random.Random(7)
    rows = []
    for n in range(count):
        negative = rng.random() < 0.33
        hit = rng.random() < 0.02
        term = terms[n % len(terms)]
        rows.append(
            Mention(
                organisation=organisation,
                source=source,
                external_id=str(n),
                text="bench post",
                posted_at=now - timedelta(seconds=rng.random() * span),
                sentiment_label="negative" if negative else "neutral",
                sentiment=-0.6 if negative else 0.0,
                author_followers=rng.choice((10, 200, 5_000, 250_000)),
                matched_terms=[{"term_id": str(term.pk), "start": 0, "end": 5, "text": "alarm"}]
                if hit
                else [],
            )
        )
    Mention.all_tenants.bulk_create(rows, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE monitoring_mention")
    return organisation


RULES: dict[str, dict[str, object]] = {
    "negative_volume zscore (1 h vs 12 h)": {
        "metric": R.Metric.NEGATIVE_VOLUME,
        "method": R.Method.ZSCORE,
        "threshold": 3.0,
        "window_minutes": 60,
        "baseline_minutes": 720,
    },
    "negative_volume ratio (10 min vs 12 h, 72 windows)": {
        "metric": R.Metric.NEGATIVE_VOLUME,
        "method": R.Method.RATIO,
        "threshold": 3.0,
        "window_minutes": 10,
        "baseline_minutes": 720,
    },
    "negative_share ratio (1 h vs 12 h)": {
        "metric": R.Metric.NEGATIVE_SHARE,
        "method": R.Method.RATIO,
        "threshold": 2.0,
        "window_minutes": 60,
        "baseline_minutes": 720,
    },
    "alarm_keyword (10 terms, 13 h window)": {
        "metric": R.Metric.ALARM_KEYWORD,
        "window_minutes": 780,
    },
    "high_reach_negative (13 h window)": {
        "metric": R.Metric.HIGH_REACH_NEGATIVE,
        "window_minutes": 780,
        "min_followers": 100_000,
    },
}


def floor(organisation: Organisation) -> None:
    since = timezone.now() - timedelta(hours=13)
    Mention.all_tenants.filter(organisation=organisation, posted_at__gte=since).count()


def timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    print(f"seeding {args.mentions} mentions over 13 h …", flush=True)
    organisation = seed(args.mentions)
    try:
        print(f"{'rule':<52} {'eval ms':>8} {'floor ms':>9} {'ratio':>6} {'queries':>8}")
        for name, fields in RULES.items():
            rule = DetectionRule.all_tenants.create(organisation=organisation, name=name, **fields)
            with transaction.atomic():
                rule_measure(rule)  # warm-up
                floor(organisation)
                evals, floors = [], []
                for _ in range(args.rounds):
                    evals.append(timed(lambda rule=rule: rule_measure(rule)))
                    floors.append(timed(lambda: floor(organisation)))
                with CaptureQueriesContext(connection) as queries:
                    measurement = rule_measure(rule)
            e, f = statistics.median(evals) * 1000, statistics.median(floors) * 1000
            print(
                f"{name:<52} {e:>8.1f} {f:>9.1f} {e / f:>6.2f} {len(queries):>8}"
                f"   (observed {measurement.observed:g})"
            )
    finally:
        Mention.all_tenants.filter(organisation=organisation).delete()
        DetectionRule.all_tenants.filter(organisation=organisation).delete()
        WatchTerm.all_tenants.filter(organisation=organisation).delete()
        Source.all_tenants.filter(organisation=organisation).delete()
        organisation.delete()


if __name__ == "__main__":
    main()
