"""What the benchmarks share: the production-like environment of the system under test, their
own loopback database, the machine's load, and the versions and commit a result came from."""

from __future__ import annotations

import contextlib
import os
import platform
import secrets
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")

type Say = Callable[[str], None]


def product_env(
    database_url: str, redis_url: str, *, strip: Iterable[str] = (), **extra: str
) -> dict[str, str]:
    """This process's environment without the product's settings (`DJANGO_`, `DATABASE_`,
    `REDIS_`, `CELERY_` and `strip` prefixes), plus production settings and `extra`."""
    prefixes = ("DJANGO_", "DATABASE_", "REDIS_", "CELERY_", *strip)
    env = {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}
    env.update(
        DJANGO_ENV="production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_DEBUG="false",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        LOG_LEVEL="WARNING",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


def ensure_database(database_url: str, reseed: bool, say: Say) -> bool:
    """Create the bench database if missing (drop it first with `reseed`); True when new.
    Only a loopback database named crisis_bench* is ever created or dropped."""
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    if parts.hostname not in {"127.0.0.1", "localhost"} or not name.startswith("crisis_bench"):
        raise SystemExit(f"refusing {database_url}: use a loopback database named crisis_bench*")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and reseed:
            say(f"--reseed: dropping database {name}")
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            say(f"creating database {name}")
            conn.execute(f'CREATE DATABASE "{name}"')
    return not exists


# --- the machine --------------------------------------------------------------------------------


def machine_busy_ticks() -> int:
    """CPU ticks spent by everything on the machine (all but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return sum(fields) - fields[3] - fields[4]


def cpu_busy(seconds: float) -> float:
    """Cores busy over `seconds` (everything on the machine)."""
    t0, b0 = time.monotonic(), machine_busy_ticks()
    time.sleep(seconds)
    return (machine_busy_ticks() - b0) / TICKS / (time.monotonic() - t0)


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def wait_idle(limit_cores: float, patience: float, say: Say) -> float:
    """Sample until the machine uses at most `limit_cores`, or `patience` seconds ran out."""
    deadline = time.monotonic() + patience
    busy = cpu_busy(2.0)
    while busy > limit_cores and time.monotonic() < deadline:
        say(f"machine busy ({busy:.2f} cores, loadavg {loadavg()}): waiting for it to calm down")
        busy = cpu_busy(5.0)
    return busy


# --- provenance ---------------------------------------------------------------------------------


def git_sha() -> str:
    """The commit measured, `-dirty` when tracked files differ from it."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
        )
        return done.stdout.strip()

    try:
        sha = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):  # e.g. a `git archive` export: no .git
        return os.environ.get("BENCH_GIT_SHA", "unknown")
    return f"{sha}{'-dirty' if dirty else ''}"


def machine_versions(
    database_url: str, redis_url: str, pg_settings: Iterable[str]
) -> dict[str, str]:
    """Python, kernel, CPU, memory, PostgreSQL (and the named settings) and Redis versions."""
    info = {
        "python": platform.python_version(),
        "psycopg": psycopg.__version__,
        "kernel": platform.release(),
        "cpus": str(os.cpu_count()),
    }
    with contextlib.suppress(OSError, StopIteration):
        cpuinfo = Path("/proc/cpuinfo").read_text()
        info["cpu"] = next(
            line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line
        )
        mem = Path("/proc/meminfo").read_text().split("\n")[0].split()[1]
        info["memory"] = f"{int(mem) // 1024**2} GiB"
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        for setting in ("server_version", *pg_settings):
            row = conn.execute(f"SHOW {setting}").fetchone()
            info[f"pg_{setting}"] = str(row[0]) if row else "?"
    info["redis"] = str(redis.Redis.from_url(redis_url).info("server")["redis_version"])
    return info
