"""`manage.py serve`: the web server, a Celery worker and Celery beat as one foreground unit.

`make run` ends with it. Each child runs in its own process group, so a Ctrl-C reaches only this
command, which then stops every child exactly once; if any child exits, the others are stopped too.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

QUEUES = "ingest,detect,notify,webhooks,default"
STOP_TIMEOUT_SECONDS = 10.0
POLL_SECONDS = 0.2
PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclass(frozen=True, slots=True)
class Child:
    """One process of the unit: a name for messages and the command that starts it."""

    name: str
    argv: list[str]


def _die_with_parent(parent_pid: int) -> None:
    """Linux only: have the kernel SIGTERM the child if this command dies without cleaning up."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _ensure_port_free(host: str, port: int) -> None:
    """Fail before starting anything when the web port is taken, instead of mid-start-up."""
    family, kind, proto, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(sockaddr)
        except OSError as exc:
            raise CommandError(
                f"{_address(host, port)} is not free ({exc.strerror}); stop what uses it or pick "
                "another port (make run PORT=8001, or serve --port 8001)."
            ) from exc


def _share_metrics_between_children() -> None:
    """Web and worker counters add up on /metrics when all children write to one directory
    (prometheus_client's multi-process mode); a stale directory would double-count."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    directory = settings.VAR_DIR / "prometheus"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def children(*, host: str, port: int) -> list[Child]:
    """The web server (runserver in development, gunicorn otherwise), one worker and one beat."""
    python = sys.executable
    address = _address(host, port)
    if settings.ENVIRONMENT == "development":
        manage = str(settings.BASE_DIR / "manage.py")
        web = Child("web", [python, manage, "runserver", address, "--noreload"])
    else:
        web = Child("web", [python, "-m", "gunicorn", "crisis_api.wsgi", "-b", address, "-w", "2"])
    celery = [python, "-m", "celery", "-A", "crisis_api"]
    worker = Child("worker", [*celery, "worker", "-Q", QUEUES, "-l", "info", "--concurrency", "2"])
    beat = Child(
        "beat", [*celery, "beat", "-l", "info", "-s", str(settings.CELERY_BEAT_SCHEDULE_FILENAME)]
    )
    return [web, worker, beat]


class Command(BaseCommand):
    help = "Run the web server, a Celery worker and Celery beat together; Ctrl-C stops all three."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
        parser.add_argument(
            "--port",
            type=int,
            default=int(os.environ.get("PORT") or 8000),
            help="Port to listen on (default: $PORT or 8000).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host: str = options["host"]
        port: int = options["port"]
        _ensure_port_free(host, port)
        signals: list[int] = []

        def on_signal(signum: int, frame: FrameType | None) -> None:
            signals.append(signum)

        _share_metrics_between_children()
        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        base = f"http://{_address(host, port)}"
        self.stdout.write(
            f"crisis-api ({settings.ENVIRONMENT}): API {base}/api/v1/  docs {base}/api/v1/docs/  "
            f"admin {base}/admin/\nbroker {str(settings.CELERY_BROKER_URL).split(':', 1)[0]}, "
            f"database {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}; "
            "Ctrl-C stops web, worker and beat."
        )
        self.stdout.flush()
        running: list[tuple[Child, subprocess.Popen[bytes]]] = []
        failed: tuple[Child, int] | None = None
        try:
            for child in children(host=host, port=port):
                running.append((child, self._start(child)))
            failed = self._watch(running, signals)
        finally:
            self._stop(running, signals)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if failed is not None:
            child, code = failed
            raise CommandError(f"{child.name} exited with status {code}; stopped the others.")
        self.stdout.write("Stopped web, worker and beat.")

    def _start(self, child: Child) -> subprocess.Popen[bytes]:
        parent = os.getpid()
        return subprocess.Popen(  # noqa: S603 - fixed argv built from sys.executable
            child.argv,
            cwd=settings.BASE_DIR,
            process_group=0,
            # preexec_fn is unsafe only with threads, and this command starts none.
            preexec_fn=lambda: _die_with_parent(parent),
        )

    def _watch(
        self, running: list[tuple[Child, subprocess.Popen[bytes]]], signals: list[int]
    ) -> tuple[Child, int] | None:
        """Block until a stop signal arrives (None) or a child exits (that child and its code)."""
        while not signals:
            for child, process in running:
                code = process.poll()
                if code is not None:
                    return child, code
            time.sleep(POLL_SECONDS)
        return None

    def _stop(
        self, running: list[tuple[Child, subprocess.Popen[bytes]]], signals: list[int]
    ) -> None:
        """SIGTERM each live child, wait for it, then SIGKILL whatever is left in its group."""
        for _, process in running:
            if process.poll() is None:
                _signal(process.pid, signal.SIGTERM, group=False)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        pending = [pair for pair in running if pair[1].poll() is None]
        while pending and time.monotonic() < deadline and len(signals) < 2:
            time.sleep(POLL_SECONDS)
            pending = [pair for pair in pending if pair[1].poll() is None]
        for child, _process in pending:
            self.stderr.write(f"{child.name} did not stop in time; killing it.")
        for _, process in running:
            # Also reaps grandchildren (gunicorn and Celery pool processes) that outlived a leader.
            _signal(process.pid, signal.SIGKILL, group=True)
            process.wait()


def _signal(pid: int, sig: int, *, group: bool) -> None:
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
