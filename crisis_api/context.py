"""Per-request (or per-task) context carried in context variables: today the request id."""

from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("request_id", default="")


def current_request_id() -> str:
    return request_id_var.get()
