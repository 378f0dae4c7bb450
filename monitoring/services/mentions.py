"""Writes on mentions from the inbox: triage status, flag, assignee."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from monitoring.models import Mention
from organisations.events import Actor, event_record, subject_of


@transaction.atomic
def mention_update(*, mention: Mention, actor: Actor, **fields: Any) -> Mention:
    """Change status, flagged or assignee; the event lists exactly what changed."""
    mention = Mention.all_tenants.select_for_update().get(pk=mention.pk)
    changes: dict[str, Any] = {}
    for name, value in fields.items():
        attname = "assignee_id" if name == "assignee" else name
        new = value.pk if name == "assignee" and value is not None else value
        if getattr(mention, attname) != new:
            changes[name] = {"from": getattr(mention, attname), "to": new}
            setattr(mention, attname, new)
    if not changes:
        return mention
    mention.save(update_fields=[("assignee" if k == "assignee" else k) for k in changes])
    event_record(
        organisation=mention.organisation,
        actor=actor,
        type="mention.updated",
        subject=subject_of(mention),
        payload={"source": str(mention.source_id), "changes": changes},
    )
    return mention
