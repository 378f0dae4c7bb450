"""Regenerate the "Endpoints, roles and scopes" table of docs/api.md from the viewsets' access
declarations (the ones the server enforces): `python scripts/api_table.py` rewrites it in place,
`--check` exits 1 when the file is out of date."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "api.md"
HEADER = "| Endpoint | Roles | Incident roles that also may | API-key scope |\n|---|---|---|---|\n"
METHODS = ("GET", "POST", "PATCH", "DELETE")


def rows() -> list[str]:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crisis_api.settings")
    import django

    django.setup()
    from drf_spectacular.generators import SchemaGenerator

    from organisations.models import Role

    generator = SchemaGenerator()  # type: ignore[no-untyped-call]
    generator._initialise_endpoints()  # type: ignore[no-untyped-call]
    endpoints: list[tuple[str, str, str, Any]] = list(generator.endpoints or [])  # type: ignore[arg-type]
    found = []
    for path, _regex, method, callback in endpoints:
        cls = getattr(callback, "cls", None)
        actions = getattr(callback, "actions", None)
        if cls is None or not actions or not hasattr(cls, "access"):
            continue
        access = cls.access[actions[method.lower()]]
        short = path.removeprefix("/api/v1").replace("{pk}", "{id}")
        if "{org}" not in short:
            roles = "any logged-in user"
        elif set(access.roles) == set(Role.values):
            roles = "any member"
        else:
            roles = ", ".join(r for r in Role.values if r in access.roles)
        incident_roles = ", ".join(sorted(access.incident_roles))
        scope = f"`{access.scope}`" if access.scope else "—"
        key = (_path_key(short), METHODS.index(method))
        found.append((key, f"| `{method} {short}` | {roles} | {incident_roles} | {scope} |"))
    return [row for _, row in sorted(found)]


def _path_key(path: str) -> tuple[str, ...]:
    # A collection, then its item, then the item's actions, then the collection's actions.
    return tuple("" if s.startswith("{") else s for s in path.strip("/").split("/"))


def main() -> int:
    text = DOC.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(HEADER) + r"(?:\|.*\n)*")
    table = HEADER + "\n".join(rows()) + "\n"
    new = pattern.sub(lambda _: table, text, count=1)
    if "--check" in sys.argv:
        return 0 if new == text else 1
    DOC.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
