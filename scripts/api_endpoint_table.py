"""Regenerate the endpoint table of docs/api.md from the viewsets' access declarations.

    .venv/bin/python scripts/api_endpoint_table.py          # rewrite the table in place
    .venv/bin/python scripts/api_endpoint_table.py --check  # exit 1 when the table is stale

The table lists every operation the OpenAPI generator sees, with the member roles, incident roles
and API-key scope its `access` declaration admits (the same declaration the server enforces).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "api.md"
HEADER = "| Endpoint | Roles | Incident roles that also may | API-key scope |"
METHOD_ORDER = {"GET": 0, "POST": 1, "PUT": 2, "PATCH": 3, "DELETE": 4}


def rows() -> list[str]:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crisis_api.settings")
    import django

    django.setup()
    from drf_spectacular.generators import SchemaGenerator

    from crisis_api.api.access import ALL_ROLES
    from organisations.models import Role

    generator = SchemaGenerator()  # type: ignore[no-untyped-call]
    generator._initialise_endpoints()  # type: ignore[no-untyped-call]
    endpoints: list[tuple[str, str, str, Any]] = list(generator.endpoints or [])  # type: ignore[arg-type]
    found = []
    for path, _regex, method, callback in endpoints:
        cls = getattr(callback, "cls", None)
        actions = getattr(callback, "actions", None) or {}
        if cls is None or not hasattr(cls, "access") or method.lower() not in actions:
            continue
        access = cls.access[actions[method.lower()]]
        short = path.removeprefix("/api/v1").replace("{pk}", "{id}")
        if set(access.roles) == set(ALL_ROLES):
            roles = "any member" if "{org}" in short else "any logged-in user"
        elif not access.roles and "{org}" not in short:
            roles = "any logged-in user"
        else:
            roles = ", ".join(r for r in Role.values if r in access.roles)
        incident = ", ".join(sorted(access.incident_roles))
        scope = f"`{access.scope}`" if access.scope else "—"
        key = (short.replace("{id}", "\x00"), METHOD_ORDER.get(method, 9))
        found.append((key, f"| `{method} {short}` | {roles} | {incident} | {scope} |"))
    return [row for _, row in sorted(found)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    lines = DOC.read_text().split("\n")
    start = lines.index(HEADER) + 2  # after the header and the |---| line
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    new = [*lines[:start], *rows(), *lines[end:]]
    if args.check:
        if new != lines:
            raise SystemExit("docs/api.md: the endpoint table is stale; run this script")
        return
    DOC.write_text("\n".join(new))


if __name__ == "__main__":
    main()
