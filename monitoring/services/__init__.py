"""Writes on monitoring. Every function takes keyword arguments and owns its transaction;
views and tasks only parse, call one of these, and render."""

from monitoring.services.ingest import (
    IngestResult,
    mentions_ingest,
    mentions_prepare,
    mentions_store,
    register_ingest_hook,
)
from monitoring.services.mentions import mention_update
from monitoring.services.polling import PollOutcome, source_poll, sources_claim_due
from monitoring.services.push import mentions_push, push_signature_verify
from monitoring.services.sources import (
    IssuedSource,
    source_create,
    source_delete,
    source_poll_now,
    source_secret_rotate,
    source_set_status,
    source_update,
    watch_term_create,
    watch_term_delete,
    watch_term_update,
)

__all__ = [
    "IngestResult",
    "IssuedSource",
    "PollOutcome",
    "mention_update",
    "mentions_ingest",
    "mentions_prepare",
    "mentions_push",
    "mentions_store",
    "push_signature_verify",
    "register_ingest_hook",
    "source_create",
    "source_delete",
    "source_poll",
    "source_poll_now",
    "source_secret_rotate",
    "source_set_status",
    "source_update",
    "sources_claim_due",
    "watch_term_create",
    "watch_term_delete",
    "watch_term_update",
]
