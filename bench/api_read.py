"""Read-path benchmark: the product's tenant-scoped list endpoints against a raw-SQL data floor.

    .venv/bin/python bench/api_read.py            # about 3 minutes on the 2-core bench box

What it does, in one run (see bench/README.md and docs/benchmarks.md):

1. Creates the PostgreSQL database `crisis_bench` if missing, migrates it with the production
   settings, and seeds it once (20 organisations, 200k hash-chained events, 20k of them in the
   benchmarked organisation, 41 members there) via `bench/api_read_django.py`, which also
   issues an app token, counts the queries of one request per endpoint and can profile one.
2. Starts two gunicorn servers with identical options (`-w 2 -k sync` by default) on loopback:
   the SUT (`crisis_api.wsgi`, DJANGO_ENV=production, DEBUG off, Redis cache and throttling
   on) and the floor (`bench/raw_app.py`: same SQL, same JSON, no Django/DRF).
3. Checks that both answer 200 with identical results and `next` links, then for each endpoint
   warms both up and runs interleaved rounds (SUT/floor, then floor/SUT, …) with wrk pinned to
   CPU 1 (or a Python keep-alive client when wrk is missing), and prints median req/s, p50 and
   p99 per side, min/max across rounds and ratio = SUT / floor.

Traffic stays on 127.0.0.1; every step has a timeout; servers are stopped on exit, Ctrl-C and
errors. Results also go to bench/results/api_read-<timestamp>.json (not committed).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.metadata
import json
import os
import pickle
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
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
GUNICORN = str(Path(PYTHON).with_name("gunicorn"))
DATABASE_URL = "postgres://postgres@127.0.0.1:5432/crisis_bench"
REDIS_URL = "redis://127.0.0.1:6379/14"
THROTTLE_RATE = "1000000/min"
LOOPBACK = "127.0.0.1"
SETTLE = 1.0  # seconds of quiet after each load run
ENDPOINTS = {
    "events": "/api/v1/orgs/{slug}/events/?limit={limit}",
    "members": "/api/v1/orgs/{slug}/members/?limit={limit}",
}
WRK_SCRIPT = """
wrk.headers["Authorization"] = "Bearer {secret}"
wrk.headers["X-Forwarded-Proto"] = "https"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {{"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f}}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
"""


def say(message: str) -> None:
    print(f"[bench] {message}", flush=True)


# --- environment --------------------------------------------------------------------------------


def product_env(database_url: str, redis_url: str) -> dict[str, str]:
    """The production-like environment of the SUT (and of migrate and the seeding process)."""
    return _env.product_env(
        database_url, redis_url, strip=("THROTTLE_",), THROTTLE_RATE_CREDENTIAL=THROTTLE_RATE
    )


def run_checked(cmd: list[str], env: dict[str, str], timeout: float, what: str) -> str:
    say(f"{what}: {' '.join(cmd[1:4])} …")
    done = subprocess.run(
        cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    sys.stderr.write(done.stderr[-4000:])
    if done.returncode != 0:
        raise SystemExit(f"{what} failed ({done.returncode}):\n{done.stdout[-2000:]}")
    return done.stdout


def process_ticks(pgrps: set[int], pids: set[int]) -> int:
    """CPU ticks of the processes in these process groups plus these pids."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            rest = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(rest[2]) in pgrps or int(entry.name) in pids:
            total += int(rest[11]) + int(rest[12])
    return total


class CpuMeter:
    """How many cores the benchmark's own processes and everything else used during a run.

    Ours: both gunicorn process groups, the PostgreSQL backends serving the bench database and
    the load generator (a waited-for child). Foreign: the rest of the machine (other people's
    tests on a shared box), which is what makes a round unrepresentative.
    """

    def __init__(self, servers: list[Server], database_url: str) -> None:
        self.pgrps = {server.process.pid for server in servers}
        self.database = urlsplit(database_url).path.lstrip("/")
        self.database_url = database_url

    def _backends(self) -> set[int]:
        with psycopg.connect(self.database_url, autocommit=True, connect_timeout=5) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.database,),
            ).fetchall()
        return {int(row[0]) for row in rows}

    def snapshot(self) -> tuple[float, int, int, float]:
        children = os.times()
        return (
            time.monotonic(),
            _env.machine_busy_ticks(),
            process_ticks(self.pgrps, self._backends()),
            children.children_user + children.children_system,
        )

    @staticmethod
    def foreign_cores(
        before: tuple[float, int, int, float], after: tuple[float, int, int, float]
    ) -> float:
        elapsed = after[0] - before[0]
        machine = (after[1] - before[1]) / _env.TICKS
        ours = (after[2] - before[2]) / _env.TICKS + (after[3] - before[3])
        return max(machine - ours, 0.0) / elapsed

    @staticmethod
    def server_seconds(
        before: tuple[float, int, int, float], after: tuple[float, int, int, float]
    ) -> float:
        """CPU seconds of the server processes and their PostgreSQL backends (not wrk)."""
        return (after[2] - before[2]) / _env.TICKS


def versions(database_url: str, redis_url: str, wrk: str | None) -> dict[str, str]:
    import django
    import rest_framework

    info = {
        **_env.machine_versions(
            database_url, redis_url, ("shared_buffers", "work_mem", "synchronous_commit")
        ),
        "django": django.get_version(),
        "djangorestframework": rest_framework.VERSION,
        "gunicorn": importlib.metadata.version("gunicorn"),
    }
    if wrk:
        out = subprocess.run([wrk, "-v"], capture_output=True, text=True, timeout=10, check=False)
        info["wrk"] = (out.stdout + out.stderr).split("\n")[0].split(" [")[0]
    return info


# --- servers ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path


class Servers:
    """Started gunicorn masters (each in its own process group); all stopped on close()."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[Server] = []

    def start(self, name: str, app: list[str], env: dict[str, str], gunicorn: list[str]) -> Server:
        port = free_port()
        log = self.workdir / f"{name}.log"
        cmd = [GUNICORN, *gunicorn, "--bind", f"{LOOPBACK}:{port}", "--no-control-socket", *app]
        with log.open("wb") as out:
            process = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        server = Server(name, port, process, log)
        self.started.append(server)
        say(f"started {name}: pid {process.pid}, {' '.join(cmd[1:])}")
        return server

    def wait_ready(self, server: Server, path: str, headers: dict[str, str]) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise SystemExit(f"{server.name} exited: {server.log.read_text()[-2000:]}")
            with contextlib.suppress(OSError):
                status, _ = http_get(server.port, path, headers)
                if status == 200:
                    return
            time.sleep(0.2)
        raise SystemExit(f"{server.name} not ready in 30 s: {server.log.read_text()[-2000:]}")

    def close(self) -> None:
        for server in self.started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.process.pid, signal.SIGTERM)
        for server in self.started:
            try:
                server.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(server.process.pid, signal.SIGKILL)
                server.process.wait(timeout=5)
        self.started.clear()


def http_get(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=5)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def floor_inprocess_ms(path: str, secret: str, database_url: str) -> float:
    """ms/request of raw_app called in this process (best of 5 batches of 40), like the SUT's."""
    sys.path.insert(0, str(BENCH))
    os.environ["DATABASE_URL"] = database_url
    import raw_app

    parts = urlsplit(path)
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": parts.path,
        "QUERY_STRING": parts.query,
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_AUTHORIZATION": f"Bearer {secret}",
        "HTTP_X_FORWARDED_PROTO": "https",
    }

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        if not status.startswith("200"):
            raise SystemExit(f"raw_app in-process: {status}")

    for _ in range(5):
        raw_app.application(environ, start_response)
    batches = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(40):
            raw_app.application(environ, start_response)
        batches.append((time.perf_counter() - started) * 1000 / 40)
    return min(batches)


def verify(sut: Server, floor: Server, path: str, headers: dict[str, str]) -> dict[str, Any]:
    """Both answer 200 with the same results and the same next link (host aside), or exit."""
    documents = []
    for server in (sut, floor):
        status, body = http_get(server.port, path, headers)
        if status != 200:
            raise SystemExit(f"{server.name} {path}: HTTP {status}: {body[:500]!r}")
        documents.append((json.loads(body), len(body)))
    (a, a_bytes), (b, b_bytes) = documents
    if len(a["results"]) != len(b["results"]):
        raise SystemExit(f"{path}: {len(a['results'])} vs {len(b['results'])} results")
    if a["results"] != b["results"]:
        raise SystemExit(f"{path}: the results differ between SUT and floor")

    def link(url: str | None) -> str | None:
        return None if url is None else urlsplit(url)._replace(netloc="").geturl()

    if (link(a["next"]), a["previous"]) != (link(b["next"]), b["previous"]):
        raise SystemExit(f"{path}: pagination differs: {a['next']} vs {b['next']}")
    return {"results": len(a["results"]), "sut_bytes": a_bytes, "floor_bytes": b_bytes}


# --- load ---------------------------------------------------------------------------------------


@dataclass
class Run:
    side: str
    round: int
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    loadavg: str
    foreign_cores: float = 0.0
    cpu_ms: float = 0.0
    throttle_history: int | None = None


@dataclass
class Load:
    wrk: str | None
    connections: int
    taskset: list[str]
    workdir: Path
    secret: str
    scripts: dict[int, Path] = field(default_factory=dict)

    @property
    def tool(self) -> str:
        pinned = f", pinned with {' '.join(self.taskset)}" if self.taskset else ""
        if self.wrk:
            return f"wrk -t1 -c{self.connections}{pinned}"
        return f"python http.client keep-alive client, {self.connections} threads{pinned}"

    def run(self, port: int, path: str, seconds: float) -> dict[str, float]:
        url = f"http://{LOOPBACK}:{port}{path}"
        if self.wrk:
            script = self.workdir / "auth.lua"
            if not script.exists():
                script.write_text(WRK_SCRIPT.format(secret=self.secret))
                script.chmod(0o600)
            cmd = [
                *self.taskset,
                self.wrk,
                "-t1",
                f"-c{self.connections}",
                f"-d{seconds:g}s",
                "--timeout",
                "5s",
                "-s",
                str(script),
                url,
            ]
        else:
            cmd = [*self.taskset, PYTHON, __file__, "--python-client", url]
            cmd += ["--connections", str(self.connections), "--duration", f"{seconds:g}"]
        env = {**os.environ, "BENCH_SECRET": self.secret}
        out = subprocess.run(
            cmd, capture_output=True, text=True, timeout=seconds + 30, env=env, check=False
        )
        line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
        if out.returncode != 0 or line is None:
            raise SystemExit(f"load generator failed: {out.stdout[-1500:]} {out.stderr[-1500:]}")
        raw: dict[str, float] = json.loads(line.removeprefix("BENCH_JSON "))
        return raw


def python_client(url: str, connections: int, duration: float) -> None:
    """Fallback load generator: threads with keep-alive http.client connections."""
    parts = urlsplit(url)
    path = f"{parts.path}?{parts.query}"
    headers = {
        "Authorization": f"Bearer {os.environ['BENCH_SECRET']}",
        "X-Forwarded-Proto": "https",
    }
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = [0] * connections
    start = time.perf_counter()
    deadline = start + duration

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname or LOOPBACK, parts.port, timeout=5)
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                errors[index] += 1
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname or LOOPBACK, parts.port, timeout=5)
                continue
            latencies[index].append(time.perf_counter() - t0)
            if response.status != 200:
                errors[index] += 1
            if response.will_close:
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname or LOOPBACK, parts.port, timeout=5)
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(duration + 10)
    elapsed = time.perf_counter() - start
    values = sorted(x * 1e6 for per in latencies for x in per)

    def percentile(p: float) -> float:
        return values[min(len(values) - 1, int(len(values) * p / 100))] if values else 0.0

    report = {
        "requests": len(values),
        "duration_us": elapsed * 1e6,
        "status": sum(errors),
        "connect": 0,
        "read": 0,
        "write": 0,
        "timeout": 0,
        "p50_us": percentile(50),
        "p90_us": percentile(90),
        "p99_us": percentile(99),
        "max_us": values[-1] if values else 0.0,
    }
    print("BENCH_JSON " + json.dumps(report))


# --- throttle history (the SUT's Redis-backed rate limiter) -------------------------------------


def throttle_keys(client: redis.Redis) -> list[bytes]:
    return list(client.scan_iter(match="crisis:*:throttle:*", count=1000))


def throttle_reset(client: redis.Redis) -> None:
    """Start every SUT run with an empty rate-limit history (see the `throttle` column)."""
    keys = throttle_keys(client)
    if keys:
        client.delete(*keys)


def throttle_history(client: redis.Redis) -> int:
    """Entries in the largest throttle history (DRF keeps one timestamp per request)."""
    sizes = [0]
    for key in throttle_keys(client):
        value = client.get(key)
        if isinstance(value, bytes):
            with contextlib.suppress(Exception):
                sizes.append(len(pickle.loads(value)))
    return max(sizes)


# --- statistics and output ----------------------------------------------------------------------


def to_run(side: str, index: int, raw: dict[str, float], load: str) -> Run:
    errors = int(raw["connect"] + raw["read"] + raw["write"] + raw["status"] + raw["timeout"])
    return Run(
        side=side,
        round=index,
        rps=raw["requests"] / (raw["duration_us"] / 1e6),
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        requests=int(raw["requests"]),
        errors=errors,
        loadavg=load,
    )


def summarise(runs: list[Run], side: str) -> dict[str, float]:
    mine = [r for r in runs if r.side == side]
    rps = [r.rps for r in mine]
    return {
        "rps": statistics.median(rps),
        "rps_min": min(rps),
        "rps_max": max(rps),
        "rps_cv": statistics.pstdev(rps) / statistics.mean(rps),
        "p50_ms": statistics.median(r.p50_ms for r in mine),
        "p99_ms": statistics.median(r.p99_ms for r in mine),
        "p99_ms_max": max(r.p99_ms for r in mine),
        "cpu_ms": statistics.median(r.cpu_ms for r in mine),
    }


def print_table(endpoint: str, runs: list[Run], result: dict[str, Any]) -> None:
    sut, floor = result["sut"], result["floor"]
    print()
    print(f"== {endpoint}: {result['path']}  ({result['results']} rows, {result['bytes']} B)")
    print(f"{'round':<7}{'side':<7}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}", end="")
    print(f"{'cpu ms':>8}{'throttle':>10}{'other':>7}  loadavg before")
    for run in runs:
        history = "" if run.throttle_history is None else str(run.throttle_history)
        print(
            f"{run.round:<7}{run.side:<7}{run.rps:>9.0f}{run.p50_ms:>9.2f}{run.p99_ms:>9.2f}"
            f"{run.errors:>8}{run.cpu_ms:>8.2f}{history:>10}{run.foreign_cores:>7.2f}"
            f"  {run.loadavg}"
        )
    print("(cpu ms: CPU time of the server processes and their PostgreSQL backends per request;")
    print(" throttle: entries in the SUT's rate-limit history at the end of the run;")
    print(" other: cores used by processes that are not part of the benchmark)")
    print()
    print(f"{'side':<8}{'median req/s':>13}{'min-max req/s':>17}{'CV':>7}", end="")
    print(f"{'p50 ms':>9}{'p99 ms':>9}{'cpu ms':>8}")
    for name, s in (("sut", sut), ("floor", floor)):
        span = f"{s['rps_min']:.0f}-{s['rps_max']:.0f}"
        print(
            f"{name:<8}{s['rps']:>13.0f}{span:>17}{s['rps_cv'] * 100:>6.1f}%"
            f"{s['p50_ms']:>9.2f}{s['p99_ms']:>9.2f}{s['cpu_ms']:>8.2f}"
        )
    ratios = result["round_ratios"]
    print(
        f"ratio sut/floor (median req/s): {result['ratio']:.3f}   per round: median "
        f"{statistics.median(ratios):.3f}, {min(ratios):.3f}-{max(ratios):.3f}   "
        f"SQL queries/request (SUT): {result['queries']}"
    )
    inproc = result["inprocess_ms"]
    print(
        f"CPU per request floor/SUT: {floor['cpu_ms'] / sut['cpu_ms']:.3f}   in-process, one "
        f"request at a time (no HTTP): SUT {inproc['sut']:.2f} ms, floor {inproc['floor']:.2f} "
        f"ms, floor/SUT {inproc['floor'] / inproc['sut']:.3f}"
    )
    for flag in result["flags"]:
        print(f"  ! {flag}")


# --- main ---------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="SUT vs raw-SQL floor on the list endpoints.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per timed run")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds per side, once")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="sync", choices=("sync", "gthread"))
    parser.add_argument("--threads", type=int, default=4, help="with --worker-class gthread")
    parser.add_argument("--endpoints", default="events,members", help="comma-separated")
    parser.add_argument("--client", default="auto", choices=("auto", "wrk", "python"))
    parser.add_argument("--database-url", default=DATABASE_URL)
    parser.add_argument("--redis-url", default=REDIS_URL)
    parser.add_argument("--reseed", action="store_true", help="drop and re-seed the database")
    parser.add_argument("--profile", type=int, default=0, help="cProfile N in-process requests")
    parser.add_argument(
        "--ablate", type=int, default=0, help="in-process ablation: N interleaved batches of 50"
    )
    parser.add_argument("--allow-busy", action="store_true", help="run on a busy machine")
    parser.add_argument("--python-client", metavar="URL", help=argparse.SUPPRESS)
    return parser.parse_args()


def bench(args: argparse.Namespace, workdir: Path, servers: Servers) -> dict[str, Any]:
    started = datetime.now(UTC)
    busy = _env.wait_idle(0.5, 0 if args.allow_busy else 120, say)
    say(f"idle check: {busy:.2f} cores busy, loadavg {_env.loadavg()}")
    if busy > 0.5 and not args.allow_busy:
        raise SystemExit("the machine stayed busy (> 0.5 cores) for 2 min: pass --allow-busy")
    wrk = shutil.which("wrk") if args.client in {"auto", "wrk"} else None
    if args.client == "wrk" and wrk is None:
        raise SystemExit("wrk not found: apt-get install -y wrk (or --client python)")
    env = product_env(args.database_url, args.redis_url)
    _env.ensure_database(args.database_url, args.reseed, say)
    run_checked([PYTHON, "manage.py", "migrate", "-v0"], env, 300, "migrate")
    seeder = [PYTHON, str(BENCH / "api_read_django.py"), "--limit", str(args.limit)]
    if args.profile:
        seeder += ["--profile", str(args.profile)]
    if args.ablate:
        seeder += ["--ablate", str(args.ablate)]
    django_side = json.loads(run_checked(seeder, env, 900, "seed/probe").splitlines()[-1])
    for name, found in django_side["probes"].items():
        say(f"SUT {name}: {found['queries']} queries/request:")
        for sql in found["sql"]:
            print(f"    {sql[:160]}{' …' if len(sql) > 160 else ''}")

    gunicorn = ["--workers", str(args.workers), "--worker-class", args.worker_class]
    if args.worker_class == "gthread":
        gunicorn += ["--threads", str(args.threads)]
    gunicorn += ["--timeout", "30", "--graceful-timeout", "5", "--log-level", "warning"]
    floor_env = {
        "DATABASE_URL": args.database_url,
        "PATH": os.environ.get("PATH", ""),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    sut = servers.start("sut", ["crisis_api.wsgi:application"], env, gunicorn)
    floor = servers.start(
        "floor", ["--pythonpath", str(BENCH), "raw_app:application"], floor_env, gunicorn
    )
    headers = {"Authorization": f"Bearer {django_side['secret']}", "X-Forwarded-Proto": "https"}
    first = ENDPOINTS["events"].format(slug=django_side["slug"], limit=args.limit)
    for server in (sut, floor):
        servers.wait_ready(server, first, headers)

    taskset = (
        ["taskset", "-c", "1"] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []
    )
    load = Load(wrk, args.connections, taskset, workdir, django_side["secret"])
    say(f"load generator: {load.tool}; {args.rounds} rounds x {args.duration:g} s per side")
    cache = redis.Redis.from_url(args.redis_url, socket_timeout=5)
    meter = CpuMeter([sut, floor], args.database_url)
    report: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "git": _env.git_sha(),
        "versions": versions(args.database_url, args.redis_url, wrk),
        "settings": {
            "server": f"gunicorn {' '.join(gunicorn)}",
            "load": load.tool,
            "rounds": args.rounds,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "throttle_rate_credential": THROTTLE_RATE,
            "idle_busy_cores": round(busy, 2),
        },
        "data": django_side["state"],
        "endpoints": {},
    }
    for endpoint in [e.strip() for e in args.endpoints.split(",") if e.strip()]:
        path = ENDPOINTS[endpoint].format(slug=django_side["slug"], limit=args.limit)
        checked = verify(sut, floor, path, headers)
        checked["floor_inprocess_ms"] = floor_inprocess_ms(
            path, django_side["secret"], args.database_url
        )
        say(f"{endpoint}: both 200, {checked['results']} identical results; warming up")
        for server in (sut, floor):
            throttle_reset(cache)
            load.run(server.port, path, args.warmup)
            time.sleep(SETTLE)
        runs: list[Run] = []
        for index in range(1, args.rounds + 1):
            order = (sut, floor) if index % 2 else (floor, sut)  # ABBA cancels drift
            for server in order:
                throttle_reset(cache)
                load_before = _env.loadavg()
                before = meter.snapshot()
                raw = load.run(server.port, path, args.duration)
                run = to_run(server.name, index, raw, load_before)
                after = meter.snapshot()
                run.foreign_cores = meter.foreign_cores(before, after)
                run.cpu_ms = meter.server_seconds(before, after) * 1000 / max(run.requests, 1)
                time.sleep(SETTLE)  # requests still queued in gunicorn finish before the next
                if server is sut:
                    run.throttle_history = throttle_history(cache)
                runs.append(run)
                say(
                    f"{endpoint} round {index} {server.name}: {run.rps:.0f} req/s, "
                    f"other processes {run.foreign_cores:.2f} cores"
                )
        result = assemble(endpoint, path, runs, checked, django_side["probes"][endpoint])
        print_table(endpoint, runs, result)
        report["endpoints"][endpoint] = result
    report["loadavg_end"] = _env.loadavg()
    if "ablation" in django_side:
        report["ablation"] = django_side["ablation"]
        print("\n== Ablation of the SUT's events list, in-process (no HTTP server)")
        print(django_side["ablation"])
    if "profile" in django_side:
        report["profile"] = django_side["profile"]
        print("\n== cProfile of the SUT's events list, in-process (no HTTP server)")
        print(django_side["profile"])
    return report


def assemble(
    endpoint: str, path: str, runs: list[Run], checked: dict[str, Any], probe: dict[str, Any]
) -> dict[str, Any]:
    sut, floor = summarise(runs, "sut"), summarise(runs, "floor")
    by_round = {(r.side, r.round): r.rps for r in runs}
    rounds = sorted({r.round for r in runs})
    round_ratios = [by_round[("sut", i)] / by_round[("floor", i)] for i in rounds]
    flags = []
    for name, s in (("sut", sut), ("floor", floor)):
        if s["rps_cv"] > 0.10:
            flags.append(f"{name}: req/s varies {s['rps_cv'] * 100:.0f}% across rounds (> 10%)")
    noisy = [f"{r.side}#{r.round}" for r in runs if r.foreign_cores > 0.25]
    if noisy:
        flags.append(f"other processes used > 0.25 cores during {', '.join(noisy)}")
    if any(r.errors for r in runs):
        flags.append(f"errors: {sum(r.errors for r in runs)} failed or non-2xx responses")
    return {
        "path": path,
        "results": checked["results"],
        "bytes": checked["sut_bytes"],
        "queries": probe["queries"],
        "inprocess_ms": {"sut": probe["inprocess_ms"], "floor": checked["floor_inprocess_ms"]},
        "sql": probe["sql"],
        "sut": sut,
        "floor": floor,
        "ratio": sut["rps"] / floor["rps"],
        "round_ratios": round_ratios,
        "round_ratio_median": statistics.median(round_ratios),
        "runs": [asdict(r) for r in runs],
        "flags": flags,
    }


def main() -> None:
    args = parse_args()
    if args.python_client:
        python_client(args.python_client, args.connections, args.duration)
        return

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(f"stopped by signal {signum}")

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)
    with tempfile.TemporaryDirectory(prefix="bench-api-read-") as tmp:
        servers = Servers(Path(tmp))
        try:
            report = bench(args, Path(tmp), servers)
        finally:
            servers.close()
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"api_read-{stamp}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"\ngit {report['git']}  {report['versions']}")
    print(f"server: {report['settings']['server']}; load: {report['settings']['load']}")
    print(f"THROTTLE_RATE_CREDENTIAL={THROTTLE_RATE} for this run (production default 1200/min)")
    print(f"results written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
