"""Per-request (or per-task) context carried in context variables: the request id, and the
organisation and actor once a view has resolved them. Logs and events read it; Celery carries it
from the publishing request into the task (crisis_api/ops/celery.py)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token

request_id_var: ContextVar[str] = ContextVar("request_id", default="")
organisation_var: ContextVar[str] = ContextVar("organisation", default="")
actor_var: ContextVar[str] = ContextVar("actor", default="")

_VARS: dict[str, ContextVar[str]] = {
    "request_id": request_id_var,
    "organisation": organisation_var,
    "actor": actor_var,
}


def current_request_id() -> str:
    return request_id_var.get()


def context_bind(*, organisation: str = "", actor: str = "") -> None:
    """Name the organisation (slug) and actor (`user:<id>`, …) for the rest of the request."""
    organisation_var.set(organisation)
    actor_var.set(actor)


def context_snapshot() -> dict[str, str]:
    """The current values that are set, e.g. to put in a Celery message's headers."""
    return {name: value for name, var in _VARS.items() if (value := var.get())}


@contextmanager
def context_scope(values: Mapping[str, object]) -> Iterator[None]:
    """Set the given values (others cleared, unknown names ignored); restore the old ones after."""
    tokens: list[tuple[ContextVar[str], Token[str]]] = [
        (var, var.set(str(values.get(name) or ""))) for name, var in _VARS.items()
    ]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)
