"""The contents of a playbook (steps, RACI, communication matrix, holding statements): the
rules that hold across fields, a content hash, and the structured diff of two versions.

Serializers check each field's shape; these rules need the whole document (keys unique,
dependencies on earlier steps only, exactly one Accountable per activity, …)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from crisis_api.api.errors import DomainError

CONTENT_FIELDS = ("steps", "raci", "comms_matrix", "holding_statements")
CONDITION_FIELDS = ("name", "description", "crisis_type_ids", "min_severity_rank")


class PlaybookContentError(DomainError):
    """The playbook's contents break a rule that spans several fields."""

    code = "invalid_playbook"


def _duplicates(values: Iterable[Any]) -> list[Any]:
    return sorted((v for v, n in Counter(values).items() if n > 1), key=str)


def contents_validate(contents: dict[str, Any]) -> None:
    """Raise PlaybookContentError listing every cross-field problem (with dotted paths)."""
    errors: list[dict[str, Any]] = []

    def error(attr: str, detail: str) -> None:
        errors.append({"attr": attr, "code": "invalid", "detail": detail})

    steps: list[dict[str, Any]] = contents.get("steps", [])
    seen: set[str] = set()
    for index, step in enumerate(steps):
        key = step["key"]
        if key in seen:
            error(f"steps.{index}.key", f"Another step already has the key {key!r}.")
        for dependency in step.get("depends_on", []):
            if dependency not in seen:
                error(
                    f"steps.{index}.depends_on",
                    f"{dependency!r} is not an earlier step: a step depends on earlier ones only.",
                )
        seen.add(key)
    for index, activity in enumerate(contents.get("raci", [])):
        accountable = [r for r, letter in activity["assignments"].items() if letter == "A"]
        if len(accountable) != 1:
            error(
                f"raci.{index}.assignments",
                f"{activity['activity']!r} needs exactly one Accountable role; "
                f"it has {len(accountable)}.",
            )
    for name in _duplicates(a["activity"] for a in contents.get("raci", [])):
        error("raci", f"The activity {name!r} appears twice.")
    cells = ((row["audience"], row["channel"]) for row in contents.get("comms_matrix", []))
    for audience, channel in _duplicates(cells):
        error("comms_matrix", f"{audience} x {channel} appears twice.")
    for key in _duplicates(s["key"] for s in contents.get("holding_statements", [])):
        error("holding_statements", f"Two holding statements have the key {key!r}.")
    if errors:
        raise PlaybookContentError(
            f"The playbook is inconsistent: {len(errors)} problem(s), listed in `errors`.",
            errors=errors,
        )


def content_hash(document: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of what a version freezes (conditions and contents)."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _keyed_diff(old: list[dict[str, Any]], new: list[dict[str, Any]], key: str) -> dict[str, Any]:
    before = {str(item[key]): item for item in old}
    after = {str(item[key]): item for item in new}
    changed = []
    for name in before.keys() & after.keys():
        fields = sorted(
            f
            for f in before[name].keys() | after[name].keys()
            if before[name].get(f) != after[name].get(f)
        )
        if fields:
            changed.append(
                {
                    key: name,
                    "fields": {
                        f: {"from": before[name].get(f), "to": after[name].get(f)} for f in fields
                    },
                }
            )
    return {
        "added": [after[k] for k in after if k not in before],
        "removed": [before[k] for k in before if k not in after],
        "changed": sorted(changed, key=lambda c: str(c[key])),
    }


def _raci_cells(raci: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    return {
        (row["activity"], role): letter
        for row in raci
        for role, letter in row["assignments"].items()
    }


def contents_diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """What changed from `old` to `new`: conditions field by field; steps, comms matrix rows and
    holding statements added/removed/changed (matched by key, or audience x channel); RACI cell
    by cell (activity x role); and whether the step order changed."""
    old_steps, new_steps = old.get("steps", []), new.get("steps", [])
    common = {s["key"] for s in old_steps} & {s["key"] for s in new_steps}

    def order(steps: list[dict[str, Any]]) -> list[str]:
        return [s["key"] for s in steps if s["key"] in common]

    def matrix(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**row, "cell": f"{row['audience']}/{row['channel']}"} for row in rows]

    before, after = _raci_cells(old.get("raci", [])), _raci_cells(new.get("raci", []))
    raci = [
        {"activity": a, "role": r, "from": before.get((a, r)), "to": after.get((a, r))}
        for a, r in sorted(before.keys() | after.keys())
        if before.get((a, r)) != after.get((a, r))
    ]
    conditions = {
        name: {"from": old.get(name), "to": new.get(name)}
        for name in CONDITION_FIELDS
        if old.get(name) != new.get(name)
    }
    return {
        "conditions": conditions,
        "steps": {
            **_keyed_diff(old_steps, new_steps, "key"),
            "reordered": order(old_steps) != order(new_steps),
        },
        "raci": raci,
        "comms_matrix": _keyed_diff(
            matrix(old.get("comms_matrix", [])), matrix(new.get("comms_matrix", [])), "cell"
        ),
        "holding_statements": _keyed_diff(
            old.get("holding_statements", []), new.get("holding_statements", []), "key"
        ),
    }
