"""Background work of detection: rule evaluation after ingested batches and every minute."""

from typing import Any

from celery import shared_task
from django.db import transaction

from crisis_api.tenancy import scopes_disabled
from monitoring.services import cases, detection


@shared_task(name="detection.evaluate", ignore_result=True)
def rules_evaluate_task(organisation_id: str) -> int:
    """Evaluate one organisation's rules now (after a batch of its mentions was stored)."""
    with scopes_disabled():
        return detection.rules_evaluate(organisation_id=organisation_id)


@shared_task(name="detection.sweep", ignore_result=True)
def rules_sweep_task() -> int:
    """Evaluate every enabled rule: windows move with time even when nothing arrives."""
    with scopes_disabled():
        return detection.rules_sweep()


def after_ingest(organisation_id: Any, mention_ids: list[Any]) -> None:
    """Ingest hook: group the batch into cases now, in the ingest's transaction, and evaluate
    the organisation's rules once the batch is committed."""
    cases.cases_group(organisation_id=organisation_id, mention_ids=mention_ids)
    transaction.on_commit(lambda: rules_evaluate_task.delay(str(organisation_id)))
