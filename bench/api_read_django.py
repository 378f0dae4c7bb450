"""Django side of `bench/api_read.py`: seed the bench database, issue a token, probe, profile.

Run by `api_read.py` as a subprocess with the venv python and the production-like environment
(never imported by it), so the timed servers and this process share nothing but the database:

    .venv/bin/python bench/api_read_django.py --orgs 20 --events 200000 --bench-events 20000

Prints one JSON document on its last stdout line: the bench organisation's slug, a fresh app
token's secret, the queries one request of each endpoint runs, and the row counts.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crisis_api.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.hashers import make_password  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django_scopes import scopes_disabled  # noqa: E402

from organisations import services  # noqa: E402
from organisations.events import GENESIS_HASH, Actor, event_hash  # noqa: E402
from organisations.models import (  # noqa: E402
    Event,
    EventChainHead,
    Membership,
    Organisation,
    Role,
    User,
)

BENCH_SLUG = "bench-org-00"
SLUG_FORMAT = "bench-org-{:02d}"
EVENT_TYPES = (
    "mention.ingested",
    "mention.scored",
    "incident.opened",
    "incident.updated",
    "incident.status_changed",
    "message.drafted",
    "message.approved",
    "notification.sent",
)
SUBJECT_TYPES = ("mention", "incident", "message", "notification")
MEMBER_ROLES = (Role.ANALYST, Role.RESPONDER, Role.VIEWER, Role.CRISIS_MANAGER, Role.COMMS_LEAD)


def log(message: str) -> None:
    print(f"[django] {message}", file=sys.stderr, flush=True)


# --- seeding ------------------------------------------------------------------------------------


def plan_counts(orgs: int, total: int, bench_events: int) -> list[int]:
    """Events wanted per organisation (index 0 is the benchmarked one); sums to `total`."""
    others = orgs - 1
    rest = max(total - bench_events, 0)
    counts = [bench_events] + [rest // others] * others
    counts[-1] += rest - sum(counts[1:])
    return counts


def _payload(rng: random.Random, event_type: str) -> dict[str, Any]:
    base: dict[str, Any] = {"source": rng.choice(("x", "reddit", "news", "forum", "tiktok"))}
    if event_type.startswith("mention"):
        base.update(score=round(rng.random(), 3), sentiment=rng.choice(("neg", "neu", "pos")))
        base["excerpt"] = "lorem ipsum dolor sit amet " * rng.randint(1, 4)
    elif event_type.startswith("incident"):
        base.update(severity=rng.choice(("low", "medium", "high", "critical")))
        base["changes"] = {"status": {"from": "open", "to": "investigating"}}
    else:
        base.update(channel=rng.choice(("email", "sms", "webhook")), recipients=rng.randint(1, 50))
    return base


def seed_events(organisation: Organisation, owner: User, count: int, rng: random.Random) -> None:
    """Append `count` events to the organisation's chain with correct hash links (bulk)."""
    head = EventChainHead.objects.select_for_update().get(organisation=organisation)
    seq, prev = head.seq, head.hash or GENESIS_HASH
    start = datetime.now(UTC) - timedelta(days=90)
    step = timedelta(days=90) / max(count, 1)
    user_actor, system_actor = Actor.of_user(owner), Actor.system("ingest")
    batch: list[Event] = []
    for i in range(count):
        seq += 1
        actor = user_actor if i % 5 == 0 else system_actor
        event_type = EVENT_TYPES[i % len(EVENT_TYPES)]
        event = Event(
            id=uuid.UUID(int=rng.getrandbits(128), version=4),
            organisation=organisation,
            seq=seq,
            type=event_type,
            occurred_at=start + step * i,
            actor_type=actor.type,
            actor_id=actor.id,
            actor_label=actor.label,
            subject_type=SUBJECT_TYPES[i % len(SUBJECT_TYPES)],
            subject_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            payload=_payload(rng, event_type),
            request_id=f"{rng.getrandbits(64):016x}",
            prev_hash=prev,
        )
        event.hash = prev = event_hash(event)
        batch.append(event)
        if len(batch) == 5000:
            Event.all_tenants.bulk_create(batch)
            batch.clear()
    Event.all_tenants.bulk_create(batch)
    head.seq, head.hash = seq, prev
    head.save(update_fields=("seq", "hash"))


def seed_members(organisation: Organisation, count: int) -> None:
    """`count` extra members (users with unusable passwords), distinct `created_at`."""
    now = datetime.now(UTC)
    unusable = make_password(None)
    users = [
        User(
            email=f"member{i:03d}@{organisation.slug}.bench.invalid",
            full_name=f"Member {i:03d}",
            password=unusable,
        )
        for i in range(count)
    ]
    User.objects.bulk_create(users)
    Membership.all_tenants.bulk_create(
        Membership(
            organisation=organisation,
            user=user,
            role=MEMBER_ROLES[i % len(MEMBER_ROLES)],
            created_at=now - timedelta(minutes=count - i),
        )
        for i, user in enumerate(users)
    )


def seed(orgs: int, total: int, bench_events: int, members: int) -> None:
    rng = random.Random(20_260_101)  # deterministic fixture data
    counts = plan_counts(orgs, total, bench_events)
    started = time.perf_counter()
    with transaction.atomic():  # all or nothing: a half-seeded database is never reused
        for index, wanted in enumerate(counts):
            slug = SLUG_FORMAT.format(index)
            owner = User.objects.create_user(f"owner@{slug}.bench.invalid", None)
            organisation = services.organisation_create(
                name=f"Bench org {index:02d}",
                owner=owner,
                slug=slug,
                plan=Organisation.Plan.TEAM,
            )
            existing = Event.all_tenants.filter(organisation=organisation).count()
            seed_events(organisation, owner, wanted - existing, rng)
            if index == 0:
                seed_members(organisation, members)
            log(f"seeded {slug}: {wanted} events ({time.perf_counter() - started:.1f} s)")
    connection.close()
    with connection.cursor() as cursor:  # autocommit: VACUUM refuses a transaction block
        cursor.execute("VACUUM ANALYZE")
    log(f"seeding done, VACUUM ANALYZE done in {time.perf_counter() - started:.1f} s")


def data_state() -> dict[str, int]:
    with scopes_disabled():
        bench = Organisation.objects.filter(slug=BENCH_SLUG).first()
        return {
            "organisations": Organisation.objects.filter(slug__startswith="bench-org-").count(),
            "events": Event.all_tenants.count(),
            "bench_events": Event.all_tenants.filter(organisation=bench).count() if bench else 0,
            "bench_members": Membership.all_tenants.filter(organisation=bench).count()
            if bench
            else 0,
        }


# --- probing and profiling ----------------------------------------------------------------------


def environ_for(path: str, query: str, secret: str) -> dict[str, Any]:
    """A WSGI environ like gunicorn's for a GET behind the TLS-terminating proxy."""
    return {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_AUTHORIZATION": f"Bearer {secret}",
        "HTTP_X_FORWARDED_PROTO": "https",
        "HTTP_ACCEPT": "application/json",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def call(app: WSGIHandler, path: str, query: str, secret: str) -> tuple[str, bytes]:
    status: list[str] = []

    def start_response(s: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        status.append(s)
        return lambda data: None

    chunks: Iterable[bytes] = app(environ_for(path, query, secret), start_response)
    body = b"".join(chunks)
    close: Callable[[], None] | None = getattr(chunks, "close", None)
    if close is not None:
        close()
    return status[0], body


def probe(app: WSGIHandler, path: str, query: str, secret: str) -> dict[str, Any]:
    """Queries of one warm request (the third: the first ones warm caches and the token), and
    ms/request in-process (best of 5 batches of 40: the least disturbed by other processes)."""
    for _ in range(2):
        call(app, path, query, secret)
    with CaptureQueriesContext(connection) as captured:
        status, body = call(app, path, query, secret)
    sql = [q["sql"] for q in captured.captured_queries]  # now: the next request resets the log
    if not status.startswith("200"):
        raise SystemExit(f"probe {path}: {status} {body[:300]!r}")
    document = json.loads(body)
    batches = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(40):
            call(app, path, query, secret)
        batches.append((time.perf_counter() - started) * 1000 / 40)
    return {
        "inprocess_ms": min(batches),
        "status": status,
        "queries": len(sql),
        "sql": sql,
        "results": len(document["results"]),
        "bytes": len(body),
    }


# (label, path suffix, function): inclusive cProfile time of the request's stages.
STAGES = (
    ("whole request (WSGI handler)", "django/core/handlers/wsgi.py", "__call__"),
    ("  DRF view dispatch", "crisis_api/api/idempotency.py", "dispatch"),
    ("    initial: authentication", "rest_framework/views.py", "perform_authentication"),
    ("    initial: permissions + tenant", "rest_framework/views.py", "check_permissions"),
    ("    initial: throttle", "rest_framework/views.py", "check_throttles"),
    ("    list: filter_queryset", "rest_framework/generics.py", "filter_queryset"),
    ("    list: paginate_queryset", "rest_framework/generics.py", "paginate_queryset"),
    ("    list: serializer.data", "rest_framework/serializers.py", "data"),
    ("    finalize_response", "rest_framework/views.py", "finalize_response"),
    ("  render (JSONRenderer)", "rest_framework/response.py", "rendered_content"),
    ("SQL execute (Django cursor wrapper)", "django/db/backends/utils.py", "_execute"),
    ("ORM model instantiation", "django/db/models/base.py", "from_db"),
    ("Redis cache get", "django/core/cache/backends/redis.py", "get"),
    ("Redis cache set", "django/core/cache/backends/redis.py", "set"),
)
# Own-time buckets by where the code lives (first match wins).
BUCKETS = (
    ("psycopg", "/psycopg/"),
    ("Django ORM (django/db)", "/django/db/"),
    ("Django other", "/django/"),
    ("DRF", "/rest_framework/"),
    ("django-filter", "/django_filters/"),
    ("django-scopes", "/django_scopes/"),
    ("redis-py", "/redis/"),
    ("project code", "/work/main/"),
    ("stdlib", "/lib/python3"),
)


def profile(app: WSGIHandler, path: str, query: str, secret: str, requests: int, top: int) -> str:
    """Time `requests` in-process requests plain, then under cProfile: stages, buckets, top."""
    started = time.perf_counter()
    for _ in range(requests):
        call(app, path, query, secret)
    plain_ms = (time.perf_counter() - started) * 1000 / requests
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        call(app, path, query, secret)
    profiler.disable()
    stats = pstats.Stats(profiler)
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    out = io.StringIO()
    out.write(f"{path}?{query}: {plain_ms:.2f} ms/request in-process without profiler, ")
    out.write(f"{stats.total_tt * 1000 / requests:.2f} ms/request under cProfile ")  # type: ignore[attr-defined]
    out.write(f"({requests} requests)\n\ninclusive time per request under cProfile:\n")
    for label, suffix, function in STAGES:
        # max, not sum: a name can match nested methods (ListSerializer.data -> .data)
        seconds = max(
            (
                ct
                for (file, _, name), (_, _, _, ct, _) in raw.items()
                if name == function and file.endswith(suffix)
            ),
            default=0.0,
        )
        out.write(f"  {label:<40} {seconds * 1000 / requests:7.2f} ms\n")
    own: dict[str, float] = {}
    for (file, _, _), (_, _, tt, _, _) in raw.items():
        bucket = next((b for b, needle in BUCKETS if needle in file), "C builtins / other")
        own[bucket] = own.get(bucket, 0.0) + tt
    out.write("\nown time per request by package under cProfile:\n")
    for bucket, seconds in sorted(own.items(), key=lambda item: -item[1]):
        share = seconds / stats.total_tt * 100  # type: ignore[attr-defined]
        out.write(f"  {bucket:<40} {seconds * 1000 / requests:7.2f} ms {share:5.1f} %\n")
    out.write("\n")
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


ALL_FOUR = frozenset({"throttle", "touch", "filters", "health"})
EVENT_COLUMNS = (
    "id",
    "seq",
    "type",
    "occurred_at",
    "actor_type",
    "actor_id",
    "actor_label",
    "subject_type",
    "subject_id",
    "payload",
    "request_id",
    "prev_hash",
    "hash",
)


def event_row_output(serializer: Any, row: dict[str, Any]) -> dict[str, Any]:
    """EventOutput.to_representation for a `.values()` row instead of an Event instance."""
    return {
        "id": str(row["id"]),
        "seq": row["seq"],
        "type": row["type"],
        "occurred_at": row["occurred_at"].isoformat().replace("+00:00", "Z"),
        "actor": {"type": row["actor_type"], "id": row["actor_id"], "label": row["actor_label"]},
        "subject": {"type": row["subject_type"], "id": row["subject_id"]},
        "payload": row["payload"],
        "request_id": row["request_id"],
        "prev_hash": row["prev_hash"],
        "hash": row["hash"],
    }


ABLATIONS: tuple[tuple[str, frozenset[str]], ...] = (
    ("production stack, as served", frozenset()),
    ("throttle history pre-filled to 1200 entries", frozenset({"history"})),
    ("without the throttle", frozenset({"throttle"})),
    ("without the last_used_at UPDATE (_touch)", frozenset({"touch"})),
    ("without the django-filter FilterSet", frozenset({"filters"})),
    ("without the connection health check", frozenset({"health"})),
    ("without all four", ALL_FOUR),
    ("events page from .values() (no model instances)", frozenset({"values"})),
    ("without all four, page from .values()", frozenset(ALL_FOUR | {"values"})),
)


@contextlib.contextmanager
def ablated(removed: frozenset[str]) -> Iterator[None]:
    """Switch parts of the request path off in this process only (monkeypatching, restored)."""
    from organisations import authentication, serializers, views

    saved_touch = authentication._touch
    saved_output = serializers.EventOutput.to_representation
    saved_health = connection.settings_dict["CONN_HEALTH_CHECKS"]
    view = views.EventViewSet
    if "throttle" in removed:
        setattr(view, "throttle_classes", [])  # noqa: B010 - a class attribute, restored below
    if "filters" in removed:
        setattr(view, "filter_backends", [])  # noqa: B010
    if "touch" in removed:
        setattr(authentication, "_touch", lambda credential: None)  # noqa: B010
    if "health" in removed:
        connection.settings_dict["CONN_HEALTH_CHECKS"] = False
        setattr(connection, "health_check_enabled", False)  # noqa: B010 - read at connect
    if "values" in removed:
        setattr(view, "scope_queryset", lambda self, qs: qs.values(*EVENT_COLUMNS))  # noqa: B010
        setattr(serializers.EventOutput, "to_representation", event_row_output)  # noqa: B010
    try:
        yield
    finally:
        for name in ("throttle_classes", "filter_backends", "scope_queryset"):
            if name in view.__dict__:
                delattr(view, name)
        authentication._touch = saved_touch
        setattr(serializers.EventOutput, "to_representation", saved_output)  # noqa: B010
        connection.settings_dict["CONN_HEALTH_CHECKS"] = saved_health
        setattr(connection, "health_check_enabled", saved_health)  # noqa: B010


def ablate(
    app: WSGIHandler, path: str, query: str, secret: str, user: User, batch: int, repeats: int
) -> str:
    """ms/request in-process with one part of the stack off at a time (interleaved batches)."""
    key = f"throttle:credential:user:{user.pk}"
    timings: dict[str, list[float]] = {label: [] for label, _ in ABLATIONS}
    for _ in range(repeats):
        for label, removed in ABLATIONS:
            with ablated(removed):
                cache.delete(key)
                if "history" in removed:
                    cache.set(key, [time.time()] * 1200, 60)
                for _ in range(5):  # warm: connection, health-check state, caches
                    call(app, path, query, secret)
                started = time.perf_counter()
                for _ in range(batch):
                    call(app, path, query, secret)
                timings[label].append((time.perf_counter() - started) * 1000 / batch)
    cache.delete(key)
    base = min(timings[ABLATIONS[0][0]])
    out = io.StringIO()
    out.write(f"{path}?{query} in-process, {repeats} interleaved batches of {batch} requests\n")
    out.write(f"  {'variant':<46}{'min ms':>8}{'median ms':>11}{'vs as served':>14}\n")
    for label, values in timings.items():
        best = min(values)
        out.write(
            f"  {label:<46}{best:>8.2f}{statistics.median(values):>11.2f}{best - base:>+13.2f}\n"
        )
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=20)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--bench-events", type=int, default=20_000)
    parser.add_argument("--members", type=int, default=40)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--profile", type=int, default=0, help="profile N events-list requests")
    parser.add_argument("--profile-top", type=int, default=30)
    parser.add_argument("--ablate", type=int, default=0, help="batches of 50 per variant")
    args = parser.parse_args()

    state = data_state()
    want = {"organisations": args.orgs, "events": args.events, "bench_events": args.bench_events}
    if state["organisations"] == 0:
        log(f"empty bench database: seeding {want}")
        seed(args.orgs, args.events, args.bench_events, args.members)
        state = data_state()
    else:
        log(f"reusing seeded data {state}")
    if any(state[k] != v for k, v in want.items()) or state["bench_members"] != args.members + 1:
        raise SystemExit(f"seeded data {state} differs from {want}: rerun with --reseed")

    with scopes_disabled():
        owner = Membership.all_tenants.get(organisation__slug=BENCH_SLUG, role=Role.OWNER).user
    _, secret = services.auth_token_create(user=owner, name="bench")
    app = WSGIHandler()
    base = f"/api/v1/orgs/{BENCH_SLUG}"
    query = f"limit={args.limit}"
    report: dict[str, Any] = {
        "slug": BENCH_SLUG,
        "secret": secret,
        "state": state,
        "probes": {
            "events": probe(app, f"{base}/events/", query, secret),
            "members": probe(app, f"{base}/members/", query, secret),
        },
    }
    if args.profile:
        report["profile"] = profile(
            app, f"{base}/events/", query, secret, args.profile, args.profile_top
        )
    if args.ablate:
        report["ablation"] = ablate(
            app, f"{base}/events/", query, secret, owner, batch=50, repeats=args.ablate
        )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
