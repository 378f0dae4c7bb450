"""Regenerate the endpoint table of docs/api.md from the viewsets' access declarations.

    DJANGO_SETTINGS_MODULE=crisis_api.settings .venv/bin/python scripts/api_table.py

Rewrites the table under "## Endpoints, roles and scopes" in place (the same declarations the
server enforces, so the table cannot drift from them).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crisis_api.settings")

import django  # noqa: E402

django.setup()

from drf_spectacular.generators import SchemaGenerator  # noqa: E402

from crisis_api.api.access import ALL_ROLES  # noqa: E402
from organisations.models import Role  # noqa: E402

METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")
HEADER = "| Endpoint | Roles | Incident roles that also may | API-key scope |\n|---|---|---|---|\n"


def rows() -> list[str]:
    generator = SchemaGenerator()
    generator._initialise_endpoints()
    found = []
    for path, _regex, method, callback in generator.endpoints:
        cls = getattr(callback, "cls", None)
        actions = getattr(callback, "actions", None)
        if cls is None or not actions or not hasattr(cls, "access"):
            continue
        access = cls.access[actions[method.lower()]]
        path = path.removeprefix("/api/v1").replace("{pk}", "{id}")
        if "{org}" not in path and path.startswith("/orgs/"):
            roles = "any logged-in user"
        elif set(access.roles) == set(ALL_ROLES):
            roles = "any member"
        else:
            roles = ", ".join(r for r in Role.values if r in access.roles)
        incident_roles = ", ".join(sorted(access.incident_roles))
        scope = f"`{access.scope}`" if access.scope else "—"
        found.append((path, METHODS.index(method), f"| `{method} {path}` | {roles} | "
                      f"{incident_roles} | {scope} |"))
    return [line for *_, line in sorted(found)]


def main() -> None:
    doc = ROOT / "docs" / "api.md"
    text = doc.read_text()
    table = HEADER + "\n".join(rows()) + "\n"
    new, count = re.subn(
        r"^\| Endpoint \| Roles \| Incident roles[^\n]*\n(?:\|[^\n]*\n)+", table, text, count=1, flags=re.M
    )
    if count != 1:
        raise SystemExit("endpoint table not found in docs/api.md")
    doc.write_text(new)
    print(f"{len(rows())} endpoints written to {doc}")


if __name__ == "__main__":
    main()
