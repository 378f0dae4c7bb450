"""Ingest benchmark: mentions through dedupe + scoring + storage into PostgreSQL, next to a raw
COPY of the same rows into the same table in the same run.

    .venv/bin/python bench/ingest.py                  # about 3 minutes on the 2-core bench box
    .venv/bin/python bench/ingest.py --mentions 10000 # quicker

What it does, in one process (see docs/benchmarks.md "Ingest"):

1. Creates the PostgreSQL database `crisis_bench_ingest` if missing and migrates it with
   production-like settings (DJANGO_ENV=production, DEBUG off); one organisation with a push
   source and 50 watch terms (brands, products, people, alarm words in English and Polish).
2. Generates N posts (default 50,000; seeded, so every run sees the same text): English and
   Polish complaints, praise and neutral chatter with brand names, inflected Polish forms,
   obfuscated swearing, URLs and hashtags, 5 % repeated inside their batch.
3. Storage vs COPY, interleaved rounds (ABBA), batches of 1,000 each in its own transaction,
   table truncated before every run:
   * floor: `COPY monitoring_mention (…) FROM STDIN (FORMAT BINARY)` of the finished rows;
   * product storage stage: `mentions_store` of the same rows (COPY into the staging table,
     `INSERT … ON CONFLICT DO NOTHING RETURNING id`, the source counter, one event, hooks).
4. The whole pipeline: `mentions_ingest` (normalise, in-batch and stored dedupe, `score_batch`,
   storage) of every batch, then the same batches again (all duplicates), with a per-stage
   breakdown.
5. Queries per batch at batch sizes 100, 1,000 and 2,000 and time per mention at 100 … 2,000:
   cost must be linear in the batch (constant queries per batch).
6. Watch-term matching time per post with 10, 100 and 1,000 terms: must stay flat.

Prints every figure next to its target; results also go to bench/results/ingest-<ts>.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import random
import secrets
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DATABASE_URL = "postgres://postgres@127.0.0.1:5432/crisis_bench_ingest"
REDIS_URL = "redis://127.0.0.1:6379/2"
SLUG = "bench-ingest"

sys.path.insert(0, str(ROOT))

import _env  # noqa: E402 - bench/ is this script's directory


def say(message: str) -> None:
    print(message, flush=True)


def setup_django(database_url: str) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="crisis_api.settings",
        DJANGO_ENV="production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_DEBUG="false",
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=database_url,
        REDIS_URL=os.environ.get("BENCH_REDIS_URL", REDIS_URL),
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()


# --- the posts ----------------------------------------------------------------------------------

EN_NEG = [
    "My {b} {p} broke after two days, absolutely terrible quality.",
    "{b} support never answers. Worst company ever, I want a refund!",
    "The {p} from {b} overheated and tripped the fuses. This is dangerous.",
    "Never buying {b} again, what a f*cking scam.",
    "Is anyone else's {b} {p} leaking? So disappointed.",
]
EN_POS = [
    "Love my new {b} {p}, works perfectly!",
    "Great service from {b} today, thanks to {n} for the help.",
    "The {p} is brilliant, highly recommend {b}.",
]
EN_NEU = [
    "{b} announced a new {p} for next spring.",
    "Does the {b} {p} come in white? #kitchen https://example.com/x",
    "Comparing the {p} from {b} with the competition.",
]
PL_NEG = [
    "Mój {p_pl} {b} zepsuł się po tygodniu, masakra.",
    "Obsługa {b} w ogóle nie odpowiada, to jest skandal!",
    "Nie polecam {b}, k.u.r.w.a co za badziew.",
    "Czajnikiem {b} można sobie zrobić krzywdę, oddaję.",
]
PL_POS = ["Super {p_pl} od {b}, polecam!", "Dziękuję {n} za szybką pomoc, {b} daje radę."]
PL_NEU = ["Czy {b} ma {p_pl} w kolorze białym?", "{b} wprowadza nowy {p_pl} na rynek."]
BRANDS = ["Acme", "Globex", "Initech", "Umbrella", "Hooli"]
PRODUCTS = ["kettle", "toaster", "blender", "air fryer", "coffee machine"]
PRODUCTS_PL = ["czajnik", "toster", "blender", "frytkownica", "ekspres"]
PEOPLE = ["Anna Nowak", "John Smith", "Piotr Kowalski"]


def watch_terms() -> list[tuple[str, str]]:
    terms = [(b, "brand") for b in BRANDS]
    terms += [(f"{b} {p}", "product") for b in BRANDS[:3] for p in PRODUCTS]
    terms += [(p, "product") for p in PRODUCTS_PL]
    terms += [(n, "person") for n in PEOPLE]
    terms += [(w, "alarm") for w in ("dangerous", "refund", "scam", "skandal", "oddaję", "leak")]
    while len(terms) < 50:
        terms.append((f"campaign{len(terms)}", "brand"))
    return terms[:50]


def term_phrases(count: int) -> list[str]:
    """`count` watch terms as organisations write them: the 50 real ones of this benchmark,
    then invented brand and product names of one or two words (seeded)."""
    rng = random.Random(count)
    syllables = ["ka", "lo", "mi", "ne", "ru", "sta", "vex", "dor", "pli", "zen", "tro", "qua"]
    phrases = [phrase for phrase, _ in watch_terms()][:count]
    while len(phrases) < count:
        word = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 3))).capitalize()
        phrases.append(word if rng.random() < 0.6 else f"{word} {rng.choice(PRODUCTS)}")
    return phrases


def make_posts(count: int, seed: int = 7) -> list[Any]:
    from monitoring.connectors import MentionIn

    rng = random.Random(seed)
    base = datetime(2026, 11, 25, tzinfo=UTC)
    groups = [(EN_NEG, 3), (EN_POS, 2), (EN_NEU, 2), (PL_NEG, 2), (PL_POS, 1), (PL_NEU, 1)]
    weighted = [templates for templates, weight in groups for _ in range(weight)]
    posts = []
    for n in range(count):
        template = rng.choice(rng.choice(weighted))
        text = template.format(
            b=rng.choice(BRANDS),
            p=rng.choice(PRODUCTS),
            p_pl=rng.choice(PRODUCTS_PL),
            n=rng.choice(PEOPLE),
        )
        posts.append(
            MentionIn(
                external_id=f"post-{n}",
                text=f"{text} #{n % 97}",
                posted_at=base + timedelta(seconds=n),
                author_handle=f"user{rng.randrange(20_000)}",
                author_followers=int(rng.paretovariate(1.2) * 50),
                url=f"https://social.example.com/p/{n}",
            )
        )
    return posts


def batches(items: list[Any], size: int, repeat_share: float = 0.0) -> list[list[Any]]:
    out = []
    for start in range(0, len(items), size):
        batch = items[start : start + size]
        repeats = int(len(batch) * repeat_share)
        out.append(batch + batch[:repeats])
    return out


# --- helpers ------------------------------------------------------------------------------------


@contextmanager
def timed(into: list[float]) -> Iterator[None]:
    start = time.perf_counter()
    yield
    into.append(time.perf_counter() - start)


def truncate() -> None:
    from django.db import connection

    from monitoring.models import Mention, Source

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Mention._meta.db_table} CASCADE")
    Source.all_tenants.update(mentions_stored=0)


def fresh_ids(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**row, "id": uuid.uuid4()} for row in rows]


def copy_floor(prepared_batches: list[list[dict[str, Any]]]) -> float:
    """COPY BINARY of the finished rows straight into the table, one transaction per batch."""
    from django.db import connection, transaction

    from monitoring.models import Mention
    from monitoring.services.ingest import _column_defaults, _columns, _pg_type, _row_values

    fields = _columns()
    names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    types = [_pg_type(f) for f in fields]
    start = time.perf_counter()
    for rows in prepared_batches:
        with transaction.atomic(), connection.cursor() as cursor:
            raw = cursor.cursor
            with raw.copy(
                f"COPY {Mention._meta.db_table} ({names}) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(types)
                columns = _column_defaults(fields)
                for row in rows:
                    copy.write_row(_row_values(row, columns))
    return time.perf_counter() - start


def product_store(source: Any, prepared_batches: list[list[dict[str, Any]]]) -> float:
    from django.db import transaction

    from monitoring.services.ingest import Prepared, mentions_store
    from organisations.events import Actor

    actor = Actor.system("bench")
    start = time.perf_counter()
    for rows in prepared_batches:
        prepared = Prepared(source, rows, len(rows), 0)
        with transaction.atomic():
            mentions_store(prepared=prepared, actor=actor)
    return time.perf_counter() - start


# --- main ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mentions", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=2, help="ABBA pairs of storage vs COPY")
    parser.add_argument("--database-url", default=DATABASE_URL)
    args = parser.parse_args()

    _env.ensure_database(args.database_url, reseed=False, say=print)
    setup_django(args.database_url)

    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django_scopes import scopes_disabled

    from monitoring.models import Source, WatchTerm
    from monitoring.scoring import ENGINE_VERSION, TermMatcher, score_batch
    from monitoring.services import mentions_ingest, watch_term_create
    from monitoring.services.ingest import mentions_prepare
    from organisations.events import Actor
    from organisations.models import Organisation

    say("migrating …")
    call_command("migrate", verbosity=0)
    actor = Actor.system("bench")
    scopes = scopes_disabled()
    scopes.__enter__()
    organisation, _ = Organisation.objects.get_or_create(slug=SLUG, defaults={"name": "Bench"})
    source, _ = Source.all_tenants.get_or_create(
        organisation=organisation, name="bench push", defaults={"kind": Source.Kind.PUSH}
    )
    if not WatchTerm.all_tenants.filter(organisation=organisation).exists():
        for phrase, kind in watch_terms():
            watch_term_create(organisation=organisation, actor=actor, phrase=phrase, kind=kind)

    say(f"generating {args.mentions:,} posts …")
    posts = make_posts(args.mentions)
    post_batches = batches(posts, args.batch, repeat_share=0.05)
    results: dict[str, Any] = {
        "started_at": datetime.now(tz=UTC).isoformat(),
        "mentions": args.mentions,
        "batch": args.batch,
        "engine_version": ENGINE_VERSION,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "loadavg_start": load_average(),
    }

    # Warm-up: matcher cache, scoring lexicons, the staging table, connection.
    truncate()
    mentions_ingest(source=source, mentions=posts[:500], actor=actor)

    # --- whole pipeline -----------------------------------------------------------------------
    truncate()
    say("pipeline: normalise + dedupe + score + store, every batch …")
    cpu_start = (time.process_time(), backend_cpu())
    pipeline = timed_batches(
        lambda batch: mentions_ingest(source=source, mentions=batch, actor=actor), post_batches
    )
    worker_cpu = time.process_time() - cpu_start[0]
    database_cpu = backend_cpu() - cpu_start[1]
    stored = Source.all_tenants.get(pk=source.pk).mentions_stored
    assert stored == args.mentions, (stored, args.mentions)
    dup_times = timed_batches(
        lambda batch: mentions_ingest(source=source, mentions=batch, actor=actor), post_batches
    )
    assert Source.all_tenants.get(pk=source.pk).mentions_stored == args.mentions

    # --- stages -------------------------------------------------------------------------------
    truncate()
    say("stages: prepare (normalise, dedupe, score) and scoring alone …")
    prepare_times: list[float] = []
    prepared_batches: list[list[dict[str, Any]]] = []
    for batch in post_batches:
        with timed(prepare_times):
            prepared_batches.append(mentions_prepare(source=source, mentions=batch).rows)
    texts = [p.text for p in posts]
    matcher = TermMatcher(
        (str(pk), phrase)
        for pk, phrase in WatchTerm.all_tenants.filter(organisation=organisation).values_list(
            "id", "phrase"
        )
    )
    score_times: list[float] = []
    for start in range(0, len(texts), args.batch):
        with timed(score_times):
            score_batch(texts[start : start + args.batch], matcher=matcher)

    # --- storage vs COPY (ABBA) ---------------------------------------------------------------
    say(f"storage vs COPY: {args.rounds} ABBA pairs …")
    copy_runs: list[float] = []
    store_runs: list[float] = []
    for round_no in range(args.rounds * 2):
        order = ("copy", "store") if round_no % 2 == 0 else ("store", "copy")
        for which in order:
            truncate()
            rows = [fresh_ids(batch) for batch in prepared_batches]
            if which == "copy":
                copy_runs.append(copy_floor(rows))
            else:
                store_runs.append(product_store(source, rows))
    truncate()

    # --- queries per batch and linearity ------------------------------------------------------
    say("queries per batch and time per mention by batch size …")
    sizes = (100, 500, 1_000, 2_000)
    linear: dict[int, dict[str, float]] = {}
    offset = 10_000_000
    for size in sizes:
        fresh = [
            dataclasses.replace(post, external_id=f"lin-{offset + n}")
            for n, post in enumerate(make_posts(size * 3, seed=size))
        ]
        offset += size * 3
        runs = []
        queries = 0
        for chunk in batches(fresh, size):
            with CaptureQueriesContext(connection) as captured:
                t0 = time.perf_counter()
                mentions_ingest(source=source, mentions=chunk, actor=actor)
                runs.append(time.perf_counter() - t0)
            queries = len(captured)
        linear[size] = {
            "queries_per_batch": queries,
            "us_per_mention": statistics.median(runs) / size * 1e6,
        }

    # --- keyword matching vs number of terms ----------------------------------------------------
    say("watch-term matching with 10, 100, 1,000 terms …")
    matching: dict[int, float] = {}  # microseconds per post
    sample = texts[:5_000]
    for count in (10, 100, 1_000):
        m = TermMatcher((str(i), p) for i, p in enumerate(term_phrases(count)))
        best = min(time_matching(m, sample) for _ in range(3))
        matching[count] = best / len(sample) * 1e6
    scopes.__exit__(None, None, None)

    # --- report -------------------------------------------------------------------------------
    n = args.mentions
    pipeline_rate = n / sum(pipeline)
    copy_rate = n / statistics.median(copy_runs)
    store_rate = n / statistics.median(store_runs)
    results.update(
        pipeline_per_s=pipeline_rate,
        pipeline_worker_cpu_s=worker_cpu,
        pipeline_database_cpu_s=database_cpu,
        duplicate_pass_per_s=n / sum(dup_times),
        prepare_per_s=n / sum(prepare_times),
        scoring_per_s=n / sum(score_times),
        copy_per_s=copy_rate,
        store_per_s=store_rate,
        store_vs_copy=store_rate / copy_rate,
        copy_runs_s=copy_runs,
        store_runs_s=store_runs,
        by_batch_size=linear,
        matching_us_per_post=matching,
    )
    say("")
    say(f"Ingest benchmark: {n:,} mentions in batches of {args.batch:,} (5 % repeated in-batch)")
    say(f"  engine {ENGINE_VERSION}, Python {platform.python_version()}, {os.cpu_count()} cores")
    results["loadavg_end"] = load_average()
    busy = max(results["loadavg_start"], results["loadavg_end"]) > (os.cpu_count() or 1)
    say(
        f"  load average (1 min) at start {results['loadavg_start']}, at end "
        f"{results['loadavg_end']}: "
        + (
            "above the core count, other work shared the CPUs"
            if busy
            else "within the core count (the bench itself uses about one core and a half)"
        )
    )
    say("")
    say(f"  raw COPY floor (finished rows)      {copy_rate:>10,.0f} mentions/s")
    say(
        f"  product storage stage              {store_rate:>10,.0f} mentions/s   "
        f"ratio {store_rate / copy_rate:.2f} x COPY (target >= 0.50)"
        f"  {'met' if store_rate / copy_rate >= 0.5 else 'MISSED'}"
    )
    say(f"    rounds COPY  {', '.join(f'{n / r:,.0f}' for r in copy_runs)}")
    say(f"    rounds store {', '.join(f'{n / r:,.0f}' for r in store_runs)}")
    say(
        f"  whole pipeline (one process)       {pipeline_rate:>10,.0f} mentions/s   "
        f"(target >= 3,000)  {'met' if pipeline_rate >= 3000 else 'MISSED'}"
    )
    cpu_rate = n / (worker_cpu + database_cpu)
    say(
        f"    per CPU-second (worker {worker_cpu:.1f} s + its PostgreSQL backend "
        f"{database_cpu:.1f} s)  {cpu_rate:>8,.0f} mentions/s   "
        f"{'met' if cpu_rate >= 3000 else 'MISSED'} on CPU time"
    )
    say(f"    worker process CPU alone         {n / worker_cpu:>10,.0f} mentions/s")
    say(f"    prepare (normalise+dedupe+score) {n / sum(prepare_times):>10,.0f} mentions/s")
    say(f"    scoring alone (score_batch)      {n / sum(score_times):>10,.0f} mentions/s")
    say(f"    re-ingest, all duplicates        {n / sum(dup_times):>10,.0f} mentions/s")
    say("")
    say("  batch size   queries/batch   us/mention")
    for size in sizes:
        row = linear[size]
        say(f"  {size:>10,}   {row['queries_per_batch']:>13}   {row['us_per_mention']:>10.1f}")
    constant = len({linear[s]["queries_per_batch"] for s in sizes}) == 1
    say(f"  queries per batch constant: {'yes' if constant else 'NO'}")
    say("")
    say("  watch terms   matching us/post")
    for count, us in matching.items():
        say(f"  {count:>11,}   {us:>16.1f}")
    flat = matching[1_000] <= 2.0 * matching[10]
    say(f"  flat from 10 to 1,000 terms (<= 2x): {'yes' if flat else 'NO'}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"ingest-{datetime.now(tz=UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    say(f"\n  results: {out.relative_to(ROOT)}")


def backend_cpu() -> float:
    """CPU seconds (user + system) used so far by this connection's PostgreSQL backend."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def timed_batches(run: Callable[[list[Any]], Any], post_batches: list[list[Any]]) -> list[float]:
    times: list[float] = []
    for batch in post_batches:
        with timed(times):
            run(batch)
    return times


def time_matching(matcher: Any, texts: list[str]) -> float:
    start = time.perf_counter()
    for text in texts:
        matcher.find(text)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
