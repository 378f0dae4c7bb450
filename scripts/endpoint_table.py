"""Regenerate the endpoint table of docs/api.md from the viewsets' access declarations.

.venv/bin/python scripts/endpoint_table.py          # rewrite docs/api.md in place
.venv/bin/python scripts/endpoint_table.py --check  # exit 1 when the table is stale
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crisis_api.settings")

import django  # noqa: E402

django.setup()

from drf_spectacular.generators import SchemaGenerator  # noqa: E402

from organisations.models import Role  # noqa: E402

DOC = ROOT / "docs" / "api.md"
HEADER = "| Endpoint | Roles | Incident roles that also may | API-key scope |"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _roles(roles: frozenset[str], tenant: bool) -> str:
    if not tenant:
        return "any logged-in user"
    if roles >= set(Role.values):
        return "any member"
    return ", ".join(role for role in Role.values if role in roles)


def rows() -> list[str]:
    generator: Any = SchemaGenerator()  # type: ignore[no-untyped-call]
    generator._initialise_endpoints()
    found = []
    endpoints: list[tuple[str, str, str, Any]] = generator.endpoints
    for path, _regex, method, callback in endpoints:
        cls = getattr(callback, "cls", None)
        actions = getattr(callback, "actions", None)
        if cls is None or not actions or not hasattr(cls, "access"):
            continue
        access = cls.access[actions[method.lower()]]
        path = path.removeprefix("/api/v1").replace("{pk}", "{id}")
        incident_roles = ", ".join(sorted(access.incident_roles))
        scope = f"`{access.scope}`" if access.scope else "—"
        roles = _roles(access.roles, "{org}" in path)
        line = f"| `{method} {path}` | {roles} | {incident_roles} | {scope} |"
        found.append((path, METHODS.index(method), line))
    return [line for *_, line in sorted(found)]


def main() -> int:
    text = DOC.read_text()
    start = text.index(HEADER)
    body_start = text.index("\n", text.index("\n", start) + 1) + 1  # after the |---| line
    end = text.index("\n\n", body_start)
    fresh = text[:body_start] + "\n".join(rows()) + text[end:]
    if "--check" in sys.argv:
        return 0 if fresh == text else 1
    DOC.write_text(fresh)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
