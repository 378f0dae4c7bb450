"""The tenant scope of the current request or task, enforced by every tenant model's manager.

A request starts with an empty, enabled scope (queries on tenant models fail); the tenant base
viewset adds the resolved organisation; tasks open `tenant_scope(org_id)` themselves. Only the
admin and explicit cross-tenant sweepers use `scopes_disabled()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django_scopes import scope, scopes_disabled
from django_scopes.state import get_scope, state

__all__ = ["activate_tenant_scope", "scopes_disabled", "tenant_scope"]


def activate_tenant_scope(organisation_id: Any) -> None:
    """Narrow the current (request-wide) scope to one organisation."""
    if organisation_id is None:
        raise ValueError("a tenant scope needs an organisation")
    current = dict(get_scope())
    current.update(_enabled=True, organisation=organisation_id)
    state.set(current)


@contextmanager
def tenant_scope(organisation_id: Any) -> Iterator[None]:
    """Run a block (a task, a command) inside one organisation."""
    if organisation_id is None:
        raise ValueError("a tenant scope needs an organisation")
    with scope(organisation=organisation_id):
        yield
