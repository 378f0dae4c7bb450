"""Fan-out benchmark: incident declared → outbox relay → Celery delivery → stub providers.

    .venv/bin/python bench/fanout.py                    # about 4 minutes on the 2-core bench box
    .venv/bin/python bench/fanout.py --extra-deliver 1  # variant: both worker processes deliver

What it does, in one run (see bench/README.md and docs/benchmarks.md §2):

1. Creates the PostgreSQL database `crisis_bench_fanout` if missing (its own: the relay claims
   every undispatched event of a database, and `crisis_bench` holds 200k of them), migrates it
   with the production settings and seeds it once: organisation `fanout-a` (500 members, each
   with verified e-mail, Slack and Teams contact methods and one rule for every event type, plus
   5 webhook endpoints), `fanout-b` (2,500 members x e-mail, Slack, Teams, webhook = 10,000
   notifications per event) and `fanout-c` (50 members, like A; warm-up and query growth).
2. Starts `bench/fanout_stub.py` (asyncio HTTP + SMTP sinks on 127.0.0.1 that record receive
   times) and points every contact method and endpoint at it; e-mail goes through Django's SMTP
   backend to the sink (`EMAIL_URL=smtp://127.0.0.1:<port>`), HTTP through the product's
   SSRF-guarded session (`SSRF_ALLOWED_NETWORKS=127.0.0.1/32`).
3. Counts the relay's queries for one declared incident at 50, 500 and 2,500 recipients
   (in-process, rolled back).
4. Starts the production worker command, `celery -A crisis_api worker -Q ingest,detect,notify,
   webhooks,default` with `--pool prefork -c 2` (two worker processes on two cores) and the
   production environment (DJANGO_ENV=production, Redis broker). No beat: what is measured is the
   after-commit wake-up path (relay task → `notifications.deliver` + `webhooks.deliver`).
5. Interleaved rounds (ABBA) of five runs through the same workers, broker and database:
   * B_commit: 500 one-row UPDATEs in autocommit (the floor of one commit per notification);
   * B_q1: 10,000 bare no-op Celery tasks (`celery.accumulate`, built in) end to end;
   * B_qbatch: 100 no-op tasks carrying 100 items each;
   * A: `incident_declare` in `fanout-a`, commit → 1,500 notifications + 5 webhook messages
     received by the stub and final in the database; per-recipient first-delivery latency;
   * B: the same in `fanout-b`: a 10,000-notification broadcast, end-to-end time and items/s.
   Each run records CPU seconds per component (each worker process, PostgreSQL backends, stub,
   Redis, other processes on the box).
6. Stops the workers and breaks one scenario-A delivery down by stage in-process (claim, plan
   caps, render, decrypt, HTTP, bookkeeping: wall and CPU time, queries, commits, database
   time).
7. Prints the tables, the targets met or missed and why, from this run's numbers.

Traffic stays on 127.0.0.1; every wait has a timeout, the whole run an overall deadline; the
stub and the workers are stopped on exit, Ctrl-C and SIGTERM. Results also go to
bench/results/fanout-<timestamp>.json (not committed).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import importlib.metadata
import io
import json
import os
import pstats
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import _env
import psycopg
import redis

ROOT = _env.ROOT
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
PYTHON = sys.executable
CELERY = str(Path(PYTHON).with_name("celery"))
DATABASE_URL = "postgres://postgres@127.0.0.1:5432/crisis_bench_fanout"
REDIS_URL = "redis://127.0.0.1:6379/14"
LOOPBACK = "127.0.0.1"
QUEUES = ("ingest", "detect", "notify", "webhooks", "default")
# A fixed Fernet key for the seeded contact-method targets, so that later runs can read them.
BENCH_FERNET_KEY = "ZmFub3V0LWJlbmNoLWtleS1ub3QtYS1zZWNyZXQtLS0="
NODE = "fanout-bench@%h"


def say(message: str) -> None:
    print(f"[fanout] {message}", flush=True)


@dataclass(frozen=True)
class OrgSpec:
    slug: str
    recipients: int
    channels: tuple[str, ...]
    endpoints: int

    @property
    def notifications(self) -> int:
        return self.recipients * len(self.channels)


# --- environment --------------------------------------------------------------------------------


def product_env(args: argparse.Namespace, stub: dict[str, int] | None) -> dict[str, str]:
    """The production-like environment of the workers (and of this process's Django)."""
    env = _env.product_env(
        args.database_url,
        args.redis_url,
        strip=("EMAIL_", "SSRF_", "TWILIO_", "WEBHOOK_"),
        FIELD_ENCRYPTION_KEYS=BENCH_FERNET_KEY,
        SSRF_ALLOWED_NETWORKS="127.0.0.1/32",
        PUBLIC_BASE_URL="https://crisis.example.com",
    )
    if stub is not None:
        env["EMAIL_URL"] = f"smtp://{LOOPBACK}:{stub['smtp']}"
    return env


# --- the machine --------------------------------------------------------------------------------


def proc_stat(pid: int) -> tuple[int, int, str] | None:
    """(process group, user+system ticks, command name) of a live process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = raw[raw.index("(") + 1 : raw.rindex(")")]
    rest = raw.rsplit(")", 1)[1].split()
    return int(rest[2]), int(rest[11]) + int(rest[12]), name


def all_pids() -> Iterator[int]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            yield int(entry.name)


class CpuMeter:
    """CPU seconds per component during a run: worker processes (each), the stub, PostgreSQL
    backends of the bench database, redis-server, beat, this process, and everything else.

    A sampler thread reads /proc every 0.2 s and keeps each process's last tick count, so the
    CPU of processes that exit during the run (a worker's database connection closed at the end
    of a long task once CONN_MAX_AGE has passed) is still counted."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.database = urlsplit(database_url).path.lstrip("/")
        self.worker_pgrp = 0
        self.beat_pgrp = 0
        self.stub_pid = 0
        self._conn: psycopg.Connection[Any] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._first: dict[str, int] = {}
        self._last: dict[str, int] = {}
        self._begin: tuple[float, int, float] = (0.0, 0, 0.0)

    def _backends(self) -> set[int]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.database_url, autocommit=True, connect_timeout=5)
        rows = self._conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (self.database,),
        ).fetchall()
        return {int(row[0]) for row in rows}

    def _sample(self) -> dict[str, int]:
        backends = self._backends()
        per: dict[str, int] = {}
        for pid in all_pids():
            stat = proc_stat(pid)
            if stat is None:
                continue
            pgrp, ticks, name = stat
            if self.worker_pgrp and pgrp == self.worker_pgrp:
                per[f"worker:{pid}"] = ticks
            elif self.beat_pgrp and pgrp == self.beat_pgrp:
                per[f"beat:{pid}"] = ticks
            elif pid == self.stub_pid:
                per["stub"] = ticks
            elif pid in backends:
                per[f"pg:{pid}"] = ticks
            elif name == "redis-server":
                per[f"redis:{pid}"] = ticks
        return per

    def _merge(self, sample: dict[str, int]) -> None:
        for key, ticks in sample.items():
            self._last[key] = max(self._last.get(key, 0), ticks)

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            with contextlib.suppress(Exception):
                self._merge(self._sample())

    def start(self) -> None:
        own = os.times()
        self._first = self._sample()
        self._last = dict(self._first)
        self._begin = (time.monotonic(), _env.machine_busy_ticks(), own.user + own.system)
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, Any]:
        """CPU seconds per component since start(), and the cores used by other processes."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._merge(self._sample())
        own = os.times()
        t0, machine0, self0 = self._begin
        elapsed = time.monotonic() - t0
        seconds: dict[str, float] = defaultdict(float)
        workers: dict[str, float] = {}
        for key, ticks in self._last.items():
            used = (ticks - self._first.get(key, 0)) / _env.TICKS
            group, _, pid = key.partition(":")
            if group == "worker":
                workers[pid] = used
                seconds["workers"] += used
            else:
                seconds["postgres" if group == "pg" else group] += used
        seconds["bench"] = own.user + own.system - self0
        machine = (_env.machine_busy_ticks() - machine0) / _env.TICKS
        ours = sum(seconds.values())
        return {
            "elapsed_s": elapsed,
            "cpu_s": {k: round(v, 3) for k, v in seconds.items()},
            "worker_processes_s": {k: round(v, 3) for k, v in sorted(workers.items())},
            "machine_cores": machine / elapsed,
            "other_cores": max(machine - ours, 0.0) / elapsed,
        }

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def versions(database_url: str, redis_url: str) -> dict[str, str]:
    import django

    return {
        **_env.machine_versions(
            database_url, redis_url, ("shared_buffers", "synchronous_commit", "fsync")
        ),
        "django": django.get_version(),
        "celery": importlib.metadata.version("celery"),
        "kombu": importlib.metadata.version("kombu"),
        "redis_py": redis.__version__,
    }


# --- child processes ----------------------------------------------------------------------------


class Children:
    """Processes started by the bench, each in its own process group; all stopped on close()."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.started.append((name, process))
        say(f"started {name}: pid {process.pid}: {' '.join(Path(c).name for c in cmd[:2])} …")
        return process

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, name: str) -> None:
        for entry in [e for e in self.started if e[0] == name]:
            self._stop(entry[1])
            self.started.remove(entry)

    @staticmethod
    def _stop(process: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        # Prefork children leave with their master; make sure none of the group lingers.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    def close(self) -> None:
        for _, process in reversed(self.started):
            self._stop(process)
        self.started.clear()


def start_stub(
    children: Children, latency_ms: float
) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    cmd = [PYTHON, str(BENCH / "fanout_stub.py"), "--latency-ms", f"{latency_ms:g}"]
    process = children.start("stub", cmd, {"PATH": os.environ.get("PATH", "")})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in children.log("stub").splitlines():
            if line.startswith("STUB_READY "):
                ports: dict[str, int] = json.loads(line.removeprefix("STUB_READY "))
                return process, ports
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise SystemExit(f"the stub did not start: {children.log('stub')[-2000:]}")


def stub_call(port: int, path: str, method: str = "GET", timeout: float = 10) -> Any:
    request = urllib.request.Request(f"http://{LOOPBACK}:{port}{path}", method=method)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read()
    return json.loads(body) if body.startswith(b"{") else body.decode()


# --- Django side (this process, after django.setup()) -------------------------------------------


def django_setup(env: dict[str, str]) -> None:
    for key in [k for k in os.environ if k not in env]:
        del os.environ[key]
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "crisis_api.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def migrate() -> None:
    from django.core.management import call_command

    say("migrate …")
    call_command("migrate", verbosity=0, interactive=False)


def http_target(kind: str, slug: str, index: int, port: int) -> str:
    return f"http://{LOOPBACK}:{port}/{kind}/{slug}/{index}"


def email_target(slug: str, index: int) -> str:
    return f"r{index}@{slug}.bench.invalid"


def seed(specs: list[OrgSpec], http_port: int) -> None:
    """Create the organisations that are missing; refuse a differently shaped existing one."""
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from crisis_api.crypto import encrypt
    from notifications.models import ContactMethod, NotificationRule
    from notifications.services import _digest, _hint
    from notifications.webhooks import webhook_endpoint_create
    from organisations import services
    from organisations.events import Actor
    from organisations.models import Membership, Organisation, Role, User

    for spec in specs:
        existing = Organisation.objects.filter(slug=spec.slug).first()
        if existing is not None:
            members = Membership.all_tenants.filter(organisation=existing).count() - 1
            kinds = set(
                ContactMethod.all_tenants.filter(organisation=existing)
                .values_list("kind", flat=True)
                .distinct()
            )
            if members != spec.recipients or kinds != set(spec.channels):
                raise SystemExit(
                    f"{spec.slug} exists with {members} recipients and {sorted(kinds)}; "
                    "run with --reseed to rebuild the bench database"
                )
            continue
        started = time.perf_counter()
        with transaction.atomic():
            owner = User.objects.create_user(f"owner@{spec.slug}.bench.invalid", None)
            org = services.organisation_create(
                name=f"Fan-out bench {spec.slug}",
                owner=owner,
                slug=spec.slug,
                plan=Organisation.Plan.ENTERPRISE,
            )
            unusable = make_password(None)
            users = User.objects.bulk_create(
                User(email=email_target(spec.slug, i), full_name=f"R {i}", password=unusable)
                for i in range(spec.recipients)
            )
            Membership.all_tenants.bulk_create(
                Membership(organisation=org, user=user, role=Role.RESPONDER) for user in users
            )
            now = timezone.now()
            methods: list[ContactMethod] = []
            for index, user in enumerate(users):
                for kind in spec.channels:
                    target = (
                        email_target(spec.slug, index)
                        if kind == "email"
                        else http_target(kind, spec.slug, index, http_port)
                    )
                    methods.append(
                        ContactMethod(
                            organisation=org,
                            user=user,
                            kind=kind,
                            label=kind,
                            target_ciphertext=encrypt(target),
                            target_hint=_hint(kind, target),
                            target_digest=_digest(org, target),
                            verified_at=now,
                        )
                    )
            ContactMethod.all_tenants.bulk_create(methods, batch_size=2000)
            by_user: dict[Any, list[str]] = defaultdict(list)
            for method in methods:
                by_user[method.user_id].append(str(method.pk))
            NotificationRule.all_tenants.bulk_create(
                NotificationRule(
                    organisation=org, user=user, name="everything", contact_methods=by_user[user.pk]
                )
                for user in users
            )
            for n in range(spec.endpoints):
                webhook_endpoint_create(
                    organisation=org,
                    actor=Actor.of_user(owner),
                    url=http_target("wh", spec.slug, n, http_port),
                    description=f"bench endpoint {n}",
                )
        say(
            f"seeded {spec.slug}: {spec.recipients} recipients x {'/'.join(spec.channels)}"
            f" + {spec.endpoints} endpoints ({time.perf_counter() - started:.1f} s)"
        )


def retarget(specs: list[OrgSpec], http_port: int) -> None:
    """Point every HTTP contact method and endpoint at this run's stub port (if it moved)."""
    from django.db import transaction

    from crisis_api.crypto import decrypt, encrypt
    from notifications.models import ContactMethod, WebhookEndpoint
    from notifications.services import _hint
    from organisations.models import Organisation

    for spec in specs:
        org = Organisation.objects.get(slug=spec.slug)
        methods = list(
            ContactMethod.all_tenants.filter(organisation=org)
            .exclude(kind="email")
            .select_related("user")
        )
        if methods and f":{http_port}/" in decrypt(methods[0].target_ciphertext):
            continue
        started = time.perf_counter()
        for method in methods:
            index = int(method.user.email.split("@", 1)[0].removeprefix("r"))
            target = http_target(method.kind, spec.slug, index, http_port)
            method.target_ciphertext, method.target_hint = (
                encrypt(target),
                _hint(method.kind, target),
            )
        with transaction.atomic():
            ContactMethod.all_tenants.bulk_update(
                methods, ["target_ciphertext", "target_hint"], batch_size=2000
            )
            for endpoint in WebhookEndpoint.all_tenants.filter(organisation=org):
                n = endpoint.url.rstrip("/").rsplit("/", 1)[1]
                endpoint.url = http_target("wh", spec.slug, int(n), http_port)
                endpoint.save(update_fields=["url"])
        say(
            f"{spec.slug}: {len(methods)} targets moved to port {http_port} "
            f"({time.perf_counter() - started:.1f} s)"
        )


def reset_delivery_state(specs: list[OrgSpec]) -> None:
    """Empty the notification tables (this database is the bench's own) and the usage counters,
    dispatch every leftover event, VACUUM ANALYZE; every run starts from the same state."""
    from django.db import connection

    from notifications.relay import outbox_relay

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE notifications_delivery, notifications_notification, "
            "notifications_webhookattempt, notifications_webhookmessage, "
            "notifications_escalation, notifications_channelusage CASCADE"
        )
    leftover = outbox_relay()
    if leftover:
        say(f"dispatched {leftover} leftover events (seeding, earlier runs)")
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE notifications_delivery, notifications_notification, "
            "notifications_webhookattempt, notifications_webhookmessage, "
            "notifications_escalation, notifications_channelusage CASCADE"
        )
    connection.close()
    with connection.cursor() as cursor:  # autocommit: VACUUM refuses a transaction block
        cursor.execute("VACUUM ANALYZE")


def org_of(slug: str) -> Any:
    from organisations.models import Organisation

    return Organisation.objects.get(slug=slug)


def declare(org: Any, title: str) -> tuple[Any, str, float]:
    """incident_declare in a transaction; returns the incident, its event id and the wall-clock
    time right after COMMIT (an on_commit callback registered before the relay's wake-up)."""
    from django.db import transaction

    from crisis_api.tenancy import tenant_scope
    from incidents.models import CrisisType, Severity
    from incidents.services import incident_declare
    from organisations.events import Actor
    from organisations.models import Event

    marks: dict[str, float] = {}
    with tenant_scope(org.pk):
        crisis_type = CrisisType.all_tenants.filter(organisation=org, is_active=True).first()
        severity = Severity.all_tenants.filter(organisation=org).order_by("rank").first()
        if crisis_type is None or severity is None:
            raise SystemExit(f"{org.slug} has no crisis type or severity")
        with transaction.atomic():
            transaction.on_commit(lambda: marks.setdefault("commit", time.time()))
            incident = incident_declare(
                organisation=org,
                actor=Actor.system("fan-out bench"),
                title=title,
                crisis_type=crisis_type,
                severity=severity,
                status="active",
            )
        event = Event.all_tenants.get(
            organisation=org, type="incident.declared", subject_id=str(incident.pk)
        )
    return incident, str(event.pk), marks.get("commit", float("nan"))  # nan when nested


def planning_probe(specs: list[OrgSpec]) -> dict[str, Any]:
    """Queries of the relay for one declared incident per organisation, in-process, rolled back:
    `plan_webhooks`, `plan_notifications` and the whole `outbox_relay()`."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from notifications.planner import plan_notifications
    from notifications.relay import outbox_relay, plan_webhooks
    from organisations.models import Event

    def kinds(queries: list[dict[str, str]]) -> dict[str, int]:
        counted = Counter(q["sql"].split(None, 1)[0].upper() for q in queries)
        return dict(sorted(counted.items()))

    found: dict[str, Any] = {}
    for spec in specs:
        org = org_of(spec.slug)
        result: dict[str, Any] = {"recipients": spec.recipients, "channels": len(spec.channels)}
        for what in ("planners", "relay"):
            with transaction.atomic():
                _, event_id, _ = declare(org, "planning probe")
                event = Event.all_tenants.get(pk=event_id)
                if what == "planners":
                    with CaptureQueriesContext(connection) as webhooks_q:
                        webhooks = plan_webhooks([event])
                    started = time.perf_counter()
                    with CaptureQueriesContext(connection) as notify_q:
                        planned = plan_notifications([event])
                    result["plan_notifications_ms"] = (time.perf_counter() - started) * 1000
                    result["planned"] = planned
                    result["webhook_messages"] = webhooks
                    result["plan_webhooks"] = kinds(webhooks_q.captured_queries)
                    result["plan_notifications"] = kinds(notify_q.captured_queries)
                    result["plan_notifications_sql"] = [
                        q["sql"][:200] for q in notify_q.captured_queries
                    ]
                else:
                    started = time.perf_counter()
                    with CaptureQueriesContext(connection) as relay_q:
                        dispatched = outbox_relay()
                    result["relay_ms"] = (time.perf_counter() - started) * 1000
                    result["relay_dispatched"] = dispatched
                    result["outbox_relay"] = kinds(relay_q.captured_queries)
                transaction.set_rollback(True)
        found[spec.slug] = result
    return found


def db_outcome(event_id: str, timeout: float) -> dict[str, Any]:
    """Wait until every notification and webhook message of the event is final; their times."""
    from django.db.models import Count, Max, Min

    from notifications.models import Notification, WebhookMessage
    from organisations.models import Event

    open_n = (Notification.Status.PENDING, Notification.Status.SENDING)
    open_w = (WebhookMessage.Status.PENDING, WebhookMessage.Status.SENDING)
    deadline = time.monotonic() + timeout
    while True:
        pending = (
            Notification.all_tenants.filter(event_id=event_id, status__in=open_n).count()
            + WebhookMessage.all_tenants.filter(event_id=event_id, status__in=open_w).count()
        )
        if pending == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    notifications = Notification.all_tenants.filter(event_id=event_id)
    times = notifications.aggregate(
        created=Min("created_at"), first=Min("sent_at"), last=Max("sent_at"), n=Count("id")
    )
    messages = WebhookMessage.all_tenants.filter(event_id=event_id)
    webhook_last = messages.aggregate(last=Max("last_attempt_at"))["last"]
    errors = list(notifications.exclude(error="").values_list("channel", "error").distinct()[:5])
    event = Event.all_tenants.get(pk=event_id)
    return {
        "open": pending,
        "notifications": times["n"],
        "status": dict(Counter(notifications.values_list("status", flat=True))),
        "webhook_status": dict(Counter(messages.values_list("status", flat=True))),
        "dispatched_at": event.dispatched_at.timestamp() if event.dispatched_at else None,
        "planned_at": times["created"].timestamp() if times["created"] else None,
        "first_sent_at": times["first"].timestamp() if times["first"] else None,
        "last_sent_at": times["last"].timestamp() if times["last"] else None,
        "webhook_last_at": webhook_last.timestamp() if webhook_last else None,
        "errors": errors,
    }


# --- Celery -------------------------------------------------------------------------------------


class Broker:
    """The Redis broker of the bench (db 14): queue depth, in-flight messages, purge."""

    def __init__(self, redis_url: str) -> None:
        self.client = redis.Redis.from_url(redis_url, socket_timeout=5)
        self.keys = [
            q + suffix for q in QUEUES for suffix in ("", "\x06\x163", "\x06\x166", "\x06\x169")
        ]

    def depth(self) -> tuple[int, int]:
        pipe = self.client.pipeline(transaction=False)
        for key in self.keys:
            pipe.llen(key)
        pipe.hlen("unacked")
        counts = pipe.execute()
        return sum(counts[:-1]), counts[-1]

    def wait_idle(self, timeout: float, interval: float = 0.005) -> float:
        """Poll until no message is queued or unacknowledged; the wall-clock time it was seen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            queued, unacked = self.depth()
            if queued == 0 and unacked == 0:
                return time.time()
            time.sleep(interval)
        raise SystemExit(f"the broker did not drain in {timeout:.0f} s: {self.depth()}")

    def purge(self) -> None:
        self.client.delete(*self.keys, "unacked", "unacked_index", "unacked_mutex")


def start_workers(
    children: Children, env: dict[str, str], pool: str, concurrency: int
) -> subprocess.Popen[bytes]:
    cmd = [
        CELERY, "-A", "crisis_api", "worker", "-Q", ",".join(QUEUES),
        "--pool", pool, "-c", str(concurrency), "-n", NODE, "--loglevel", "WARNING",
    ]  # fmt: skip
    return children.start("worker", cmd, env)


def wait_workers(app: Any, children: Children, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the worker exited: {children.log('worker')[-3000:]}")
        replies = app.control.ping(timeout=1.0)
        names = [name for reply in replies for name in reply]
        mine = [n for n in names if n.startswith("fanout-bench@")]
        if mine:
            return str(mine[0])
    raise SystemExit(f"the worker did not answer in 60 s: {children.log('worker')[-3000:]}")


def other_workers(app: Any) -> list[str]:
    replies = app.control.ping(timeout=1.0)
    return [name for reply in replies for name in reply]


# --- runs ---------------------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(-(-len(ordered) * p // 100)) - 1))
    return ordered[rank]


@dataclass
class Bench:
    args: argparse.Namespace
    app: Any
    broker: Broker
    meter: CpuMeter
    stub_port: int
    specs: dict[str, OrgSpec]
    runs: list[dict[str, Any]] = field(default_factory=list)

    def noop(self, name: str, tasks: int, per_task: int) -> dict[str, Any]:
        task = self.app.tasks["celery.accumulate"]
        payloads = [list(range(i * per_task, (i + 1) * per_task)) for i in range(tasks)]
        self.broker.wait_idle(30)
        self.meter.start()
        started = time.time()
        with self.app.producer_or_acquire() as producer:
            for args in payloads:
                task.apply_async(args=args, queue="notify", producer=producer)
        enqueued = time.time()
        done = self.broker.wait_idle(self.args.timeout)
        cpu = self.meter.stop()
        items = tasks * per_task
        return {
            "run": name,
            "tasks": tasks,
            "items": items,
            "enqueue_s": enqueued - started,
            "e2e_s": done - started,
            "items_per_s": items / (done - started),
            "cpu": cpu,
        }

    def commits(self, name: str, count: int) -> dict[str, Any]:
        """B_commit: one-row UPDATEs in autocommit through the ORM (usage_consume's statement),
        the floor of any design that commits once per notification."""
        from django.db.models import F

        from notifications.models import ChannelUsage

        row, _ = ChannelUsage.objects.get_or_create(
            organisation=org_of("fanout-c"), channel="sms", period="0000-00"
        )
        self.meter.start()
        times = []
        started = time.perf_counter()
        for _ in range(count):
            t0 = time.perf_counter()
            ChannelUsage.objects.filter(pk=row.pk).update(used=F("used") + 1)
            times.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - started
        cpu = self.meter.stop()
        row.delete()
        return {
            "run": name,
            "commits": count,
            "e2e_s": elapsed,
            "items_per_s": count / elapsed,
            "ms_per_commit_p50": pct(times, 50) * 1000,
            "ms_per_commit_p95": pct(times, 95) * 1000,
            "cpu": cpu,
        }

    def extra_deliver(self, event_id: str) -> float | None:
        """--extra-deliver N: once the relay has committed, enqueue N more of the product's own
        `notifications.deliver` tasks, so that N+1 worker processes drain the event at once
        (what a relay that enqueued one task per batch or per process would do)."""
        from notifications.tasks import notification_deliver_task
        from organisations.models import Event

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if Event.all_tenants.filter(pk=event_id, dispatched_at__isnull=False).exists():
                for _ in range(self.args.extra_deliver):
                    notification_deliver_task.delay()
                return time.time()
            time.sleep(0.005)
        return None

    def scenario(self, name: str, slug: str) -> dict[str, Any]:
        spec = self.specs[slug]
        expected = spec.notifications + spec.endpoints
        org = org_of(slug)
        self.broker.wait_idle(30)
        stub_call(self.stub_port, "/_reset", "POST")
        self.meter.start()
        _, event_id, committed = declare(org, f"bench {name}")
        extra_at = self.extra_deliver(event_id) if self.args.extra_deliver else None
        doc = stub_call(
            self.stub_port,
            f"/_wait?count={expected}&timeout={self.args.timeout:g}",
            timeout=self.args.timeout + 10,
        )
        db = db_outcome(event_id, 30)
        cpu = self.meter.stop()
        receipts = [(t - committed, key) for t, key in doc["receipts"]]
        notes = [(t, key) for t, key in receipts if not key.startswith("wh/")]
        hooks = [t for t, key in receipts if key.startswith("wh/")]
        first_by_recipient: dict[str, float] = {}
        for t, key in notes:
            recipient = key.split("/", 1)[1]
            first_by_recipient[recipient] = min(t, first_by_recipient.get(recipient, t))
        firsts = list(first_by_recipient.values())
        all_times = [t for t, _ in notes]
        ends = [x for x in (db["last_sent_at"], db["webhook_last_at"]) if x is not None]
        complete = max(ends) - committed if ends else float("nan")
        run = {
            "run": name,
            "org": slug,
            "extra_deliver_tasks": self.args.extra_deliver,
            "extra_enqueued_s": extra_at - committed if extra_at else None,
            "expected": expected,
            "received": doc["count"],
            "complete": doc["count"] >= expected and db["open"] == 0,
            "relay_s": (db["dispatched_at"] - committed) if db["dispatched_at"] else None,
            "first_any_s": min(all_times) if all_times else None,
            "first_p50_s": pct(firsts, 50),
            "first_p95_s": pct(firsts, 95),
            "first_max_s": max(firsts) if firsts else None,
            "recipients_reached": len(firsts),
            "all_p50_s": pct(all_times, 50),
            "all_p95_s": pct(all_times, 95),
            "last_receipt_s": max(all_times) if all_times else None,
            "webhooks_last_s": max(hooks) if hooks else None,
            "db_complete_s": complete,
            "items_per_s": spec.notifications / complete if complete == complete else None,
            "http": {"connections": doc["http_connections"], "requests": doc["http_requests"]},
            "smtp": {"connections": doc["smtp_connections"], "messages": doc["smtp_messages"]},
            "db": db,
            "cpu": cpu,
        }
        if not run["complete"]:
            say(
                f"!! {name}: {doc['count']}/{expected} received, {db['open']} still open; "
                f"status {db['status']} errors {db['errors']}"
            )
        return run


def describe(run: dict[str, Any]) -> str:
    cpu = run["cpu"]
    parts = ", ".join(f"{k} {v:.2f}" for k, v in sorted(cpu["cpu_s"].items()) if v >= 0.01)
    if "commits" in run:
        head = (
            f"{run['commits']} one-row UPDATE commits: {run['e2e_s']:.2f} s "
            f"({run['items_per_s']:,.0f}/s, p50 {run['ms_per_commit_p50']:.2f} ms, "
            f"p95 {run['ms_per_commit_p95']:.2f} ms)"
        )
    elif "tasks" in run:
        head = (
            f"{run['tasks']} tasks/{run['items']} items: {run['e2e_s']:.2f} s "
            f"({run['items_per_s']:,.0f} items/s, enqueue {run['enqueue_s']:.2f} s)"
        )
    else:

        def num(key: str, spec: str = ".3f") -> str:
            value = run.get(key)
            return "-" if value is None else format(value, spec)

        head = (
            f"{run['received']}/{run['expected']} received; relay {num('relay_s')} s, "
            f"first {num('first_any_s')} s, per-recipient first p95 {num('first_p95_s')} s, "
            f"complete {num('db_complete_s', '.2f')} s ({num('items_per_s', ',.0f')} "
            "notifications/s)"
        )
    busiest = max(cpu["worker_processes_s"].values(), default=0.0) / cpu["elapsed_s"]
    return (
        f"{head}; CPU s: {parts}; busiest worker process {busiest:.2f} cores; "
        f"other {cpu['other_cores']:.2f} cores"
    )


# --- where the time goes (in-process, workers stopped) -------------------------------------------


def breakdown(slug: str, stub_port: int, profile: bool) -> dict[str, Any]:
    """Declare in `slug`, relay and deliver everything in this process, timing each stage of
    `notifications.delivery.deliver_due` (by wrapping its module globals in this process only)
    with the queries and database time each stage spends."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from notifications import delivery
    from notifications.relay import outbox_relay

    stages: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    current = ["other"]
    writes = ("INSERT", "UPDATE", "DELETE")

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*a: Any, **kw: Any) -> Any:
            outer, current[0] = current[0], name
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                return fn(*a, **kw)
            finally:
                stages[name]["s"] += time.perf_counter() - started
                stages[name]["cpu_s"] += time.thread_time() - cpu
                stages[name]["calls"] += 1
                current[0] = outer

        return wrapper

    def on_query(execute: Callable[..., Any], sql: str, params: Any, many: bool, ctx: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, ctx)
        finally:
            stages[current[0]]["queries"] += 1
            stages[current[0]]["db_s"] += time.perf_counter() - started
            if not connection.in_atomic_block and sql.lstrip()[:6].upper() in writes:
                stages[current[0]]["commits"] += 1  # an autocommit write is its own commit

    class TimedPool(ThreadPoolExecutor):
        def __exit__(self, *exc: Any) -> Any:
            started = time.perf_counter()
            result = super().__exit__(*exc)
            stages["send: HTTP/SMTP in 16 threads (wall)"]["s"] += time.perf_counter() - started
            return result

        def map(self, fn: Callable[..., Any], *iterables: Any, **kw: Any) -> Any:
            started, cpu = time.perf_counter(), time.process_time()  # all threads
            results = list(super().map(fn, *iterables, **kw))
            stage = stages["send: HTTP/SMTP in 16 threads (wall)"]
            stage["s"] += time.perf_counter() - started
            stage["cpu_s"] += time.process_time() - cpu
            stage["calls"] += len(results)
            return iter(results)

    original = {name: getattr(delivery, name) for name in
                ("claim_due", "_still_allowed", "_grant_paid", "render_text", "with_ack_link",
                 "decrypt", "_finish", "_skip", "ThreadPoolExecutor")}  # fmt: skip
    labels = {
        "claim_due": "claim_due (SKIP LOCKED claim + prefetch 200)",
        "_still_allowed": "_still_allowed (send-time membership check)",
        "_grant_paid": "_grant_paid (plan caps, once per batch)",
        "render_text": "render_text (templates, once per event)",
        "with_ack_link": "with_ack_link (signed link per notification)",
        "decrypt": "decrypt (Fernet)",
        "_finish": "_finish (one UPDATE + one INSERT per batch)",
        "_skip": "_skip",
    }
    commit = connection.commit
    org = org_of(slug)
    stub_call(stub_port, "/_reset", "POST")
    _, event_id, committed = declare(org, "bench breakdown")
    started = time.perf_counter()
    dispatched = outbox_relay()
    relay_s = time.perf_counter() - started
    profiler = cProfile.Profile() if profile else None
    try:
        for name, label in labels.items():
            setattr(delivery, name, timed(label, original[name]))
        setattr(delivery, "ThreadPoolExecutor", TimedPool)  # noqa: B010 (not exported)

        def timed_commit() -> None:
            started = time.perf_counter()
            commit()
            stages[current[0]]["commits"] += 1
            stages[current[0]]["db_s"] += time.perf_counter() - started

        connection.commit = timed_commit  # type: ignore[method-assign]
        total_started, total_cpu = time.perf_counter(), time.process_time()
        handled = 0
        with connection.execute_wrapper(on_query):
            if profiler:
                profiler.enable()
            while True:
                batch = delivery.deliver_due(limit=200)
                handled += batch
                if batch < 200:
                    break
            if profiler:
                profiler.disable()
        total = time.perf_counter() - total_started
        total_cpu = time.process_time() - total_cpu
    finally:
        for name, fn in original.items():
            setattr(delivery, name, fn)
        with contextlib.suppress(AttributeError):
            del connection.commit
    counted = sum(v["s"] for k, v in stages.items() if k != "other")
    stages["other"]["s"] = total - counted
    stages["other"]["cpu_s"] = total_cpu - sum(
        v["cpu_s"] for k, v in stages.items() if k != "other"
    )
    rows: list[dict[str, Any]] = []
    for name, stage in stages.items():
        if name == "other":
            name = "other (the loop itself, thread start-up)"
        rows.append(
            {
                "stage": name,
                "calls": int(stage.get("calls", 0)),
                "s": round(stage["s"], 4),
                "ms_per_notification": round(stage["s"] * 1000 / max(handled, 1), 4),
                "queries": int(stage.get("queries", 0)),
                "commits": int(stage.get("commits", 0)),
                "db_s": round(stage.get("db_s", 0.0), 4),
                "cpu_s": round(stage.get("cpu_s", 0.0), 4),
                "cpu_ms_per_notification": round(
                    stage.get("cpu_s", 0.0) * 1000 / max(handled, 1), 4
                ),
                "share": round(stage["s"] / total, 4) if total else 0.0,
            }
        )
    rows.sort(key=lambda r: -r["s"])
    result: dict[str, Any] = {
        "org": slug,
        "relay_s": relay_s,
        "dispatched": dispatched,
        "delivered": handled,
        "deliver_s": total,
        "per_notification_ms": total * 1000 / max(handled, 1),
        "cpu_s": total_cpu,
        "cpu_per_notification_ms": total_cpu * 1000 / max(handled, 1),
        "queries": sum(r["queries"] for r in rows),
        "commits": sum(r["commits"] for r in rows),
        "stages": rows,
        "event_id": event_id,
        "since_commit_s": time.time() - committed,
    }
    if profiler:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(30)
        result["profile"] = out.getvalue()
    return result


def median(runs: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else float("nan")


def span(runs: list[dict[str, Any]], key: str) -> str:
    values = [r[key] for r in runs if r.get(key) is not None]
    return f"{min(values):.3f}-{max(values):.3f}" if values else "-"


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    runs = report["runs"]
    by = defaultdict(list)
    for run in runs:
        by[run["run"]].append(run)
    q1, qb, a, b = by["B_q1"], by["B_qbatch"], by["A"], by["B"]
    s: dict[str, Any] = {
        "B_commit_ms": median(by["B_commit"], "ms_per_commit_p50"),
        "B_commit_per_s": median(by["B_commit"], "items_per_s"),
        "B_q1_items_per_s": median(q1, "items_per_s"),
        "B_qbatch_items_per_s": median(qb, "items_per_s"),
        "A": {
            k: median(a, k)
            for k in (
                "relay_s",
                "first_any_s",
                "first_p50_s",
                "first_p95_s",
                "first_max_s",
                "all_p50_s",
                "all_p95_s",
                "last_receipt_s",
                "webhooks_last_s",
                "db_complete_s",
                "items_per_s",
            )
        },
    }
    s["B"] = {k: median(b, k) for k in s["A"]}
    for name, group in (("A", a), ("B", b)):
        cpu_runs = [r for r in group if r.get("complete")]
        for component in ("workers", "postgres", "stub", "redis"):
            values = [
                r["cpu"]["cpu_s"].get(component, 0.0) * 1000 / (r["expected"]) for r in cpu_runs
            ]
            s[name][f"{component}_cpu_ms_per_item"] = (
                statistics.median(values) if values else float("nan")
            )
    s["ratio_B_vs_qbatch"] = s["B"]["items_per_s"] / s["B_qbatch_items_per_s"]
    s["ratio_B_vs_q1"] = s["B"]["items_per_s"] / s["B_q1_items_per_s"]
    per_round = []
    for r in sorted({run["round"] for run in b}):
        rate = {
            name: next((x["items_per_s"] for x in group if x["round"] == r), None)
            for name, group in (("B", b), ("q1", q1), ("qbatch", qb))
        }
        if rate["B"] and rate["q1"] and rate["qbatch"]:
            per_round.append(
                {
                    "round": r,
                    "B_vs_qbatch": rate["B"] / rate["qbatch"],
                    "B_vs_q1": rate["B"] / rate["q1"],
                }
            )
    s["per_round"] = per_round
    s["all_complete"] = all(r.get("complete", True) for r in runs)
    return s


def print_report(report: dict[str, Any]) -> None:
    runs, s = report["runs"], report["summary"]
    specs = report["specs"]
    a_spec, b_spec = specs["fanout-a"], specs["fanout-b"]
    print()
    print("== Runs (in the order they ran)")
    for run in runs:
        print(f"  round {run['round']} {run['run']:<9} {describe(run)}")
    print()
    by = defaultdict(list)
    for run in runs:
        by[run["run"]].append(run)
    n_rounds = len(by["B"])
    print(f"== Medians of {n_rounds} interleaved rounds (min-max across rounds)")
    print(f"{'run':<44}{'end-to-end s':>14}{'items/s':>12}  range of e2e s")
    q1_tasks = by["B_q1"][0]["tasks"] if by["B_q1"] else 0
    rows = [
        ("B_commit: 500 one-row UPDATE commits", by["B_commit"], "e2e_s"),
        (f"B_q1: {q1_tasks:,} no-op tasks, one item each", by["B_q1"], "e2e_s"),
        (f"B_qbatch: {q1_tasks // 100:,} no-op tasks x 100 items", by["B_qbatch"], "e2e_s"),
        (f"A: declare, {a_spec['notifications']:,} notifications + {a_spec['endpoints']} webhooks",
         by["A"], "db_complete_s"),
        (f"B: broadcast, {b_spec['notifications']:,} notifications", by["B"], "db_complete_s"),
    ]  # fmt: skip
    for label, group, key in rows:
        print(
            f"{label:<44}{median(group, key):>14.3f}{median(group, 'items_per_s'):>12,.0f}"
            f"  {span(group, key)}"
        )
    batches = b_spec["notifications"] / 200
    print(
        f"B_commit: one-row UPDATE + COMMIT through the ORM, median {s['B_commit_ms']:.2f} ms "
        f"({s['B_commit_per_s']:,.0f}/s). Delivery commits about 3 times per batch of 200 "
        f"(claim, caps, outcomes): {batches * 3:,.0f} commits in B, about "
        f"{batches * 3 * s['B_commit_ms'] / 1000:.2f} s of it"
    )
    print()
    print("commit → …  (seconds, median of rounds)          A           B")
    for key, label in (
        ("relay_s", "relay committed (event dispatched_at)"),
        ("first_any_s", "first delivery received by a stub"),
        ("first_p50_s", "per-recipient first delivery, p50"),
        ("first_p95_s", "per-recipient first delivery, p95"),
        ("all_p50_s", "all deliveries, p50"),
        ("all_p95_s", "all deliveries, p95"),
        ("last_receipt_s", "last delivery received by a stub"),
        ("db_complete_s", "every row final in PostgreSQL"),
    ):
        bv = s["B"].get(key, float("nan"))
        print(f"  {label:<46}{s['A'][key]:>8.3f}{bv:>12.3f}")
    print(f"  {'A: last webhook message received':<46}{s['A']['webhooks_last_s']:>8.3f}")
    b_last = by["B"][-1]
    print(
        f"connections seen by the stub in the last B run: HTTP {b_last['http']['connections']:,}"
        f" for {b_last['http']['requests']:,} requests; SMTP {b_last['smtp']['connections']:,} "
        f"for {b_last['smtp']['messages']:,} messages"
    )
    print(
        "CPU ms per delivered item (median of rounds):  "
        + "; ".join(
            f"{name}: "
            + ", ".join(
                f"{c} {s[name][f'{c}_cpu_ms_per_item']:.2f}"
                for c in ("workers", "postgres", "stub", "redis")
            )
            for name in ("A", "B")
        )
    )
    cpu = b_last["cpu"]
    print(
        f"CPU seconds in the last B run ({cpu['elapsed_s']:.1f} s): "
        + ", ".join(f"{k} {v:.2f}" for k, v in sorted(cpu["cpu_s"].items()))
        + "; per worker process: "
        + ", ".join(f"pid {k} {v:.2f}" for k, v in cpu["worker_processes_s"].items())
    )
    print()
    print("== Planning queries for one declared incident (in-process, rolled back)")
    print(
        f"{'organisation':<13}{'recipients':>11}{'planned':>9}  {'plan_notifications':<22}"
        f"{'ms':>6}  {'outbox_relay() (claim, plan, mark)':<48}{'ms':>6}"
    )
    for slug, probe in report["planning"].items():
        pn = " ".join(f"{k} {v}" for k, v in probe["plan_notifications"].items())
        rel = " ".join(f"{k} {v}" for k, v in probe["outbox_relay"].items())
        print(
            f"{slug:<13}{probe['recipients']:>11,}{probe['planned']:>9,}  {pn:<22}"
            f"{probe['plan_notifications_ms']:>6.0f}  {rel:<48}{probe['relay_ms']:>6.0f}"
        )
    print()
    targets = report["targets"]
    print("== Targets (issue; performance.md §4.4 F1/F2)")
    for t in targets:
        print(f"  [{'MET ' if t['met'] else 'MISS'}] {t['name']}: {t['measured']}")
    for flag in report.get("flags", []):
        print(f"  ! {flag}")
    print()
    print("== Interpretation")
    for line in report.get("interpretation", []):
        print(f"  * {line}")
    if "breakdown" in report:
        bd = report["breakdown"]
        print()
        print(
            f"== Where the time goes: {bd['delivered']:,} notifications of {bd['org']} delivered "
            f"in this process, one deliver_due loop (like the worker's task), workers stopped"
        )
        print(
            f"relay {bd['relay_s'] * 1000:.0f} ms for {bd['dispatched']} event(s); delivery "
            f"{bd['deliver_s']:.2f} s = {bd['per_notification_ms']:.2f} ms/notification; "
            f"{bd['queries']:,} queries, {bd['commits']:,} commits "
            f"({bd['queries'] / max(bd['delivered'], 1):.1f} queries/notification); this "
            f"process's CPU {bd['cpu_per_notification_ms']:.2f} ms/notification"
        )
        print(
            f"{'stage':<56}{'calls':>6}{'wall s':>7}{'ms/notif':>9}{'share':>6}"
            f"{'CPU ms/notif':>13}{'queries':>8}{'commits':>8}{'db s':>6}"
        )
        for row in bd["stages"]:
            print(
                f"{row['stage']:<56}{row['calls']:>6}{row['s']:>7.2f}"
                f"{row['ms_per_notification']:>9.3f}{row['share'] * 100:>5.0f}%"
                f"{row['cpu_ms_per_notification']:>13.3f}"
                f"{row['queries']:>8}{row['commits']:>8}{row['db_s']:>6.2f}"
            )
        print("(db s: wall time waiting for PostgreSQL, commits included; CPU of the send stage")
        print(" is that of all 16 threads; the rest is this thread's CPU)")
        if "profile" in bd:
            print()
            print(bd["profile"])


def interpret(report: dict[str, Any]) -> list[str]:
    """Why the targets are met or missed, from this run's own measurements."""
    s, lines = report["summary"], []
    b_runs = [r for r in report["runs"] if r["run"] == "B" and r.get("complete")]
    if b_runs:
        shares = []
        for run in b_runs:
            per = run["cpu"]["worker_processes_s"].values()
            total = sum(per)
            shares.append(max(per) / total if total else 0.0)
        extra = report["settings"]["extra_deliver_tasks"]
        lines.append(
            f"B: the busiest worker process did {statistics.median(shares):.0%} of the workers' "
            "CPU. "
            + (
                f"The bench enqueued {extra} more notifications.deliver task(s) after the relay, "
                "so SKIP LOCKED let that many more processes share the event."
                if extra
                else "A full batch of 200 starts a sibling notifications.deliver task before "
                "sending, so both worker processes share the event through SKIP LOCKED."
            )
        )
    b = s["B"]
    cpu_ms = sum(b[f"{c}_cpu_ms_per_item"] for c in ("workers", "postgres", "stub", "redis"))
    if cpu_ms == cpu_ms and cpu_ms > 0:
        cores = os.cpu_count() or 2
        ceiling = cores * 1000 / cpu_ms
        lines.append(
            f"B cost {b['workers_cpu_ms_per_item']:.2f} ms of worker CPU per notification "
            f"(+{b['postgres_cpu_ms_per_item']:.2f} PostgreSQL, +{b['stub_cpu_ms_per_item']:.2f} "
            f"stub): even with {'both' if cores == 2 else f'all {cores}'} cores busy with nothing "
            "else the ceiling is "
            f"about {ceiling:,.0f} notifications/s, {10_000 / ceiling:.1f} s for 10,000 (target "
            "5 s)."
            + (
                " Parallel workers alone cannot reach the target: the CPU per notification "
                "must fall."
                if 10_000 / ceiling > 5
                else ""
            )
        )
    bd = report.get("breakdown")
    if bd:
        top = bd["stages"][0]
        lines.append(
            f"In-process: {bd['queries'] / max(bd['delivered'], 1):.1f} queries and "
            f"{bd['commits'] / max(bd['delivered'], 1):.2f} commits per notification; the largest "
            f"stage is {top['stage'].split(' (')[0]} ({top['share']:.0%} of the wall time)."
        )
    lines.append(
        f"Planning is constant in queries but not free: the relay committed {b['relay_s']:.2f} s "
        f"after the declare for 10,000 notifications (A: {s['A']['relay_s']:.2f} s for 1,500), "
        "before the first send."
    )
    a = s["A"]
    lines.append(
        f"A: first delivery {a['first_any_s']:.2f} s after the commit; per-recipient first "
        f"delivery p95 {a['first_p95_s']:.2f} s vs all-deliveries p95 {a['all_p95_s']:.2f} s "
        "(claims take every recipient's first contact method before any second one)."
    )
    return lines


def judge(report: dict[str, Any]) -> list[dict[str, Any]]:
    s = report["summary"]
    planning = report["planning"]
    reads = {slug: p["plan_notifications"].get("SELECT", 0) for slug, p in planning.items()}
    relay_reads = {slug: p["outbox_relay"].get("SELECT", 0) for slug, p in planning.items()}
    inserts = {slug: p["plan_notifications"].get("INSERT", 0) for slug, p in planning.items()}
    constant = len(set(reads.values())) == 1 and len(set(relay_reads.values())) == 1
    b = s["B"]
    return [
        {
            "name": "10,000 notifications in <= 5 s (commit -> every row final)",
            "met": b["db_complete_s"] <= 5.0,
            "measured": f"{b['db_complete_s']:.2f} s = {b['items_per_s']:,.0f}/s "
            f"(stretch <= 2 s; fail line < 1,000/s)",
        },
        {
            "name": "first delivery p95 <= 1 s after the commit (A, per recipient)",
            "met": s["A"]["first_p95_s"] <= 1.0,
            "measured": f"p95 {s['A']['first_p95_s']:.3f} s (p50 {s['A']['first_p50_s']:.3f} s,"
            f" first {s['A']['first_any_s']:.3f} s)",
        },
        {
            "name": "F1: dispatch-complete p95 <= 1 s (A, all 1,500 deliveries)",
            "met": s["A"]["all_p95_s"] <= 1.0,
            "measured": f"p95 {s['A']['all_p95_s']:.3f} s, all final {s['A']['db_complete_s']:.2f}"
            " s (fail line > 3 s)",
        },
        {
            "name": "planning queries constant in the number of recipients",
            "met": constant,
            "measured": "SELECTs " + " / ".join(f"{v}" for v in reads.values())
            + " in plan_notifications and " + " / ".join(f"{v}" for v in relay_reads.values())
            + " in the whole relay for " + " / ".join(
                f"{p['recipients']:,}" for p in planning.values())
            + " recipients; bulk INSERTs " + " / ".join(f"{v}" for v in inserts.values())
            + " (batches of 1,000 rows, by design)",
        },
        {
            "name": "F2: B >= 0.10 x B_qbatch items/s",
            "met": s["ratio_B_vs_qbatch"] >= 0.10,
            "measured": f"{s['ratio_B_vs_qbatch']:.3f} (B {b['items_per_s']:,.0f}/s vs "
            f"{s['B_qbatch_items_per_s']:,.0f}/s)",
        },
        {
            "name": "F2: B >= 4 x one no-op task per item (B_q1; a real per-notification task "
            "would be slower still)",
            "met": s["ratio_B_vs_q1"] >= 4.0,
            "measured": f"{s['ratio_B_vs_q1']:.2f} x (B_q1 {s['B_q1_items_per_s']:,.0f}/s)",
        },
    ]  # fmt: skip


# --- main ---------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Notification fan-out vs bare Celery tasks.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--recipients-a", type=int, default=500)
    parser.add_argument("--recipients-b", type=int, default=2500)
    parser.add_argument("--recipients-small", type=int, default=50)
    parser.add_argument("--endpoints", type=int, default=5, help="webhook endpoints of A")
    parser.add_argument("--noop-tasks", type=int, default=10_000)
    parser.add_argument("--pool", default="prefork", choices=("prefork", "threads", "solo"))
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument(
        "--beat", action="store_true", help="also run celery beat (production schedule)"
    )
    parser.add_argument(
        "--extra-deliver",
        type=int,
        default=0,
        help="enqueue N more notifications.deliver tasks after the relay (parallel variant)",
    )
    parser.add_argument("--stub-latency-ms", type=float, default=0.0)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per run, at most")
    parser.add_argument(
        "--budget", type=float, default=270.0, help="start no round that would end later (s)"
    )
    parser.add_argument("--deadline", type=float, default=600.0, help="hard stop (s)")
    parser.add_argument("--database-url", default=DATABASE_URL)
    parser.add_argument("--redis-url", default=REDIS_URL)
    parser.add_argument("--reseed", action="store_true", help="drop and re-seed the database")
    parser.add_argument("--no-breakdown", action="store_true", help="skip the in-process stages")
    parser.add_argument("--profile", action="store_true", help="cProfile the in-process delivery")
    parser.add_argument("--allow-busy", action="store_true", help="run on a busy machine")
    return parser.parse_args()


def bench(args: argparse.Namespace, children: Children) -> dict[str, Any]:
    started = datetime.now(UTC)
    busy = _env.wait_idle(0.5, 0 if args.allow_busy else 120, say)
    say(f"idle check: {busy:.2f} cores busy, loadavg {_env.loadavg()}")
    clock = time.monotonic()  # the --budget counts from here
    if busy > 0.5 and not args.allow_busy:
        raise SystemExit("the machine stayed busy (> 0.5 cores) for 2 min: pass --allow-busy")
    specs = [
        OrgSpec("fanout-a", args.recipients_a, ("email", "slack", "teams"), args.endpoints),
        OrgSpec("fanout-b", args.recipients_b, ("email", "slack", "teams", "webhook"), 0),
        OrgSpec("fanout-c", args.recipients_small, ("email", "slack", "teams"), 0),
    ]
    by_slug = {spec.slug: spec for spec in specs}
    _env.ensure_database(args.database_url, args.reseed, say)
    stub_process, stub = start_stub(children, args.stub_latency_ms)
    env = product_env(args, stub)
    django_setup(env)
    migrate()
    seed(specs, stub["http"])
    retarget(specs, stub["http"])
    reset_delivery_state(specs)

    from crisis_api.celery import app

    broker = Broker(args.redis_url)
    foreign = [n for n in other_workers(app) if not n.startswith("fanout-bench@")]
    if foreign:
        raise SystemExit(f"other Celery workers consume from {args.redis_url}: {foreign}")
    say("planning probe (queries for one declared incident, rolled back) …")
    planning = planning_probe([by_slug["fanout-c"], by_slug["fanout-a"], by_slug["fanout-b"]])
    for slug, probe in planning.items():
        say(
            f"  {slug}: {probe['planned']} planned; plan_notifications "
            f"{probe['plan_notifications']}; outbox_relay {probe['outbox_relay']}"
        )
    broker.purge()

    meter = CpuMeter(args.database_url)
    meter.stub_pid = stub_process.pid
    worker = start_workers(children, env, args.pool, args.concurrency)
    meter.worker_pgrp = worker.pid
    node = wait_workers(app, children, worker)
    say(f"worker {node} ready ({args.pool}, -c {args.concurrency})")
    if args.beat:
        schedule = children.workdir / "celerybeat-schedule"
        beat_cmd = [
            CELERY,
            "-A",
            "crisis_api",
            "beat",
            "-s",
            str(schedule),
            "--loglevel",
            "WARNING",
        ]
        meter.beat_pgrp = children.start("beat", beat_cmd, env).pid
    runner = Bench(args, app, broker, meter, stub["http"], by_slug)

    say("warm-up: 200 no-op tasks, one declare in fanout-c …")
    runner.noop("warm-up", 200, 1)
    warm = runner.scenario("warm-up", "fanout-c")
    say(f"warm-up: {describe(warm)}")
    time.sleep(1.0)

    order = [
        ("B_commit", lambda: runner.commits("B_commit", 500)),
        ("B_q1", lambda: runner.noop("B_q1", args.noop_tasks, 1)),
        ("B_qbatch", lambda: runner.noop("B_qbatch", args.noop_tasks // 100, 100)),
        ("A", lambda: runner.scenario("A", "fanout-a")),
        ("B", lambda: runner.scenario("B", "fanout-b")),
    ]
    runs: list[dict[str, Any]] = []
    round_seconds: list[float] = []
    flags: list[str] = []
    for index in range(1, args.rounds + 1):
        spent = time.monotonic() - clock
        if round_seconds and spent + max(round_seconds) + 30 > args.budget:
            flags.append(
                f"only {index - 1} of {args.rounds} rounds fit in --budget {args.budget:g} s "
                f"(a round took up to {max(round_seconds):.0f} s)"
            )
            say(flags[-1])
            break
        round_started = time.monotonic()
        for name, run_it in order if index % 2 else list(reversed(order)):  # ABBA
            load = _env.loadavg()
            run = run_it()
            run["round"], run["loadavg_before"] = index, load
            runs.append(run)
            say(f"round {index} {name}: {describe(run)}")
            time.sleep(1.0)
        round_seconds.append(time.monotonic() - round_started)
    noisy = [f"{r['run']}#{r['round']}" for r in runs if r["cpu"]["other_cores"] > 0.25]
    if noisy:
        flags.append(f"other processes used > 0.25 cores during {', '.join(noisy)}")
    incomplete = [f"{r['run']}#{r['round']}" for r in runs if r.get("complete") is False]
    if incomplete:
        flags.append(f"incomplete (timed out): {', '.join(incomplete)}")
    worker_log = children.log("worker")
    children.stop("beat")
    children.stop("worker")
    report: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "git": _env.git_sha(),
        "versions": versions(args.database_url, args.redis_url),
        "settings": {
            "worker": f"celery -A crisis_api worker -Q {','.join(QUEUES)} --pool {args.pool} "
            f"-c {args.concurrency}",
            "beat": "celery beat running (production schedule)"
            if args.beat
            else "no beat (after-commit wake-ups only)",
            "email": env["EMAIL_URL"],
            "stub_latency_ms": args.stub_latency_ms,
            "extra_deliver_tasks": args.extra_deliver,
            "rounds": args.rounds,
            "idle_busy_cores": round(busy, 2),
        },
        "specs": {
            s.slug: {
                "recipients": s.recipients,
                "channels": list(s.channels),
                "endpoints": s.endpoints,
                "notifications": s.notifications,
            }
            for s in specs
        },
        "planning": planning,
        "warmup": warm,
        "runs": runs,
        "flags": flags,
        "worker_log_tail": worker_log[-3000:],
    }
    report["summary"] = summarise(report)
    report["targets"] = judge(report)
    if not args.no_breakdown:
        say("in-process breakdown of one scenario-A delivery (workers stopped) …")
        report["breakdown"] = breakdown("fanout-a", stub["http"], args.profile)
    broker.purge()
    report["interpretation"] = interpret(report)
    report["loadavg_end"] = _env.loadavg()
    meter.close()
    return report


def main() -> None:
    args = parse_args()

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(f"stopped by signal {signum}")

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
        signal.signal(signum, stop)
    signal.alarm(int(args.deadline))  # the whole run is bounded
    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp:
        children = Children(Path(tmp))
        try:
            report = bench(args, children)
        finally:
            signal.alarm(0)
            children.close()
            with contextlib.suppress(Exception):  # no bench task outlives the run in the broker
                Broker(args.redis_url).purge()
    print_report(report)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"fanout-{stamp}.json"
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"\ngit {report['git']}  {report['versions']}")
    print(f"worker: {report['settings']['worker']}; {report['settings']['beat']}")
    print(f"results written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
