"""Celery plumbing for operations: the publishing request's context travels in a message header
and is bound while the task runs (so its logs and events carry the same request id), and every
task's outcome is counted for /metrics."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from celery import signals

from crisis_api.context import context_scope, context_snapshot
from crisis_api.ops.metrics import TASK_OUTCOMES

HEADER = "crisis_context"
_scopes: dict[str, ExitStack] = {}


@signals.before_task_publish.connect
def _carry_context(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is not None and HEADER not in headers:
        headers[HEADER] = context_snapshot()


@signals.task_prerun.connect
def _bind_context(task_id: str = "", task: Any = None, **_: Any) -> None:
    carried = getattr(task.request, HEADER, None) if task is not None else None
    stack = ExitStack()
    stack.enter_context(context_scope(carried if isinstance(carried, dict) else {}))
    _scopes[task_id] = stack


@signals.task_postrun.connect
def _unbind_context(task_id: str = "", **_: Any) -> None:
    stack = _scopes.pop(task_id, None)
    if stack is not None:
        stack.close()


@signals.task_success.connect
def _count_success(sender: Any = None, **_: Any) -> None:
    TASK_OUTCOMES.labels(task=getattr(sender, "name", "?"), outcome="success").inc()


@signals.task_failure.connect
def _count_failure(sender: Any = None, **_: Any) -> None:
    TASK_OUTCOMES.labels(task=getattr(sender, "name", "?"), outcome="failure").inc()


@signals.task_retry.connect
def _count_retry(sender: Any = None, **_: Any) -> None:
    TASK_OUTCOMES.labels(task=getattr(sender, "name", "?"), outcome="retry").inc()
