"""The ingest pipeline, one batch at a time: normalise → deduplicate → score → bulk store →
one event per batch → ingest hooks (detection plugs in there).

Cost is linear in the batch with a constant number of queries: one to read the watch-term
version (plus one to reload terms when they changed), one to find external ids already stored,
then on PostgreSQL a COPY into a session-local staging table and one
`INSERT … SELECT … ON CONFLICT (source_id, external_id) DO NOTHING RETURNING id`, so a post
stored concurrently by another worker is skipped, never duplicated. Other databases (SQLite for
`make run`) take `bulk_create(ignore_conflicts=True)` instead. Both store `grouping_pending`
true through the column's default (no statement of its own): case grouping clears it, and its
sweep finds a batch whose after-commit task was lost.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from monitoring.connectors import MentionIn
from monitoring.models import Mention, Source, WatchTerm, WatchTermVersion
from monitoring.scoring import TermMatcher, reach_score, score_batch
from organisations.events import Actor, event_record, subject_of

logger = logging.getLogger(__name__)

MAX_TEXT = 10_000
_STAGE = "monitoring_mention_stage"

IngestHook = Callable[[Any, list[Any]], None]
_hooks: list[IngestHook] = []


def register_ingest_hook(hook: IngestHook) -> None:
    """Run `hook(organisation_id, mention_ids)` after each stored batch with the ids of the
    mentions it added, inside the storing transaction (enqueue work with on_commit)."""
    if hook not in _hooks:
        _hooks.append(hook)


@dataclass
class IngestResult:
    """What a batch came to: ids stored, posts already known, and rejected items (push)."""

    stored_ids: list[uuid.UUID] = field(default_factory=list)
    duplicates: int = 0
    received: int = 0

    @property
    def stored(self) -> int:
        return len(self.stored_ids)


# --- normalise ----------------------------------------------------------------------------------


def _clean(value: str, limit: int) -> str:
    """PostgreSQL text cannot hold NUL; lengths are the columns'."""
    return value.replace("\x00", "")[:limit].strip() if value else ""


def normalise(mention: MentionIn) -> MentionIn:
    """Clip every field to its column, drop NULs, make the time aware."""
    posted_at = mention.posted_at
    if timezone.is_naive(posted_at):
        posted_at = timezone.make_aware(posted_at, timezone.get_default_timezone())
    followers = mention.author_followers
    return MentionIn(
        external_id=_clean(mention.external_id, 255),
        text=_clean(mention.text, MAX_TEXT),
        posted_at=posted_at,
        url=_clean(mention.url, 2000),
        author_handle=_clean(mention.author_handle, 255),
        author_name=_clean(mention.author_name, 255),
        author_id=_clean(mention.author_id, 255),
        author_followers=followers if followers is not None and followers >= 0 else None,
        language=_clean(mention.language, 8).lower(),
    )


def _stored_ids(source: Source, external_ids: list[str]) -> set[str]:
    """Which of these external ids the source already has: one query. On PostgreSQL the ids go
    as one array parameter (`= ANY(%s)`); building a 1,000-placeholder IN list costs more in
    Django's compiler than the query itself."""
    if connection.vendor != "postgresql":
        rows = Mention.all_tenants.filter(source_id=source.pk, external_id__in=external_ids)
        return set(rows.values_list("external_id", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT external_id FROM {Mention._meta.db_table} "  # noqa: S608 - the model's table
            "WHERE source_id = %s AND external_id = ANY(%s)",
            [source.pk, external_ids],
        )
        return {row[0] for row in cursor.fetchall()}


# --- watch terms --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Terms:
    version: int
    matcher: TermMatcher | None
    languages: dict[str, str]  # term id → language, for terms bound to one


_matchers: dict[Any, _Terms] = {}
_matchers_lock = threading.Lock()


def matcher_for(organisation_id: Any) -> _Terms:
    """The organisation's compiled watch terms, rebuilt only when their version moved."""
    version = (
        WatchTermVersion.objects.filter(organisation_id=organisation_id)
        .values_list("version", flat=True)
        .first()
    ) or 0
    cached = _matchers.get(organisation_id)
    if cached is not None and cached.version == version:
        return cached
    rows = list(
        WatchTerm.all_tenants.filter(organisation_id=organisation_id).values_list(
            "id", "phrase", "language"
        )
    )
    terms = _Terms(
        version=version,
        matcher=TermMatcher((str(pk), phrase) for pk, phrase, _ in rows) if rows else None,
        languages={str(pk): language for pk, _, language in rows if language},
    )
    with _matchers_lock:
        _matchers[organisation_id] = terms
    return terms


# --- prepare (no writes) ------------------------------------------------------------------------


@dataclass
class Prepared:
    """A batch ready to store: one model-shaped row per new post, and what was dropped."""

    source: Source
    rows: list[dict[str, Any]]
    received: int
    duplicates: int


def mentions_prepare(
    *, source: Source, mentions: Sequence[MentionIn], now: datetime | None = None
) -> Prepared:
    """Normalise, drop posts repeated in the batch or already stored, score the rest."""
    now = now or timezone.now()
    unique: dict[str, MentionIn] = {}
    for raw in mentions:
        mention = normalise(raw)
        if mention.external_id and mention.text and mention.external_id not in unique:
            unique[mention.external_id] = mention
    known = _stored_ids(source, list(unique)) if unique else set()
    fresh = [m for key, m in unique.items() if key not in known]
    duplicates = len(mentions) - len(fresh)
    if not fresh:
        return Prepared(source, [], len(mentions), duplicates)
    terms = matcher_for(source.organisation_id)
    scores = score_batch(
        [m.text for m in fresh],
        matcher=terms.matcher,
        language_hints=[m.language or None for m in fresh],
    )
    rows = []
    for mention, score in zip(fresh, scores, strict=True):
        hits = [
            {"term_id": hit.term_id, "start": hit.start, "end": hit.end, "text": hit.text}
            for hit in score.term_hits
            if terms.languages.get(hit.term_id, score.language) == score.language
        ]
        rows.append(
            {
                "id": uuid.uuid4(),
                "organisation_id": source.organisation_id,
                "source_id": source.pk,
                "external_id": mention.external_id,
                "url": mention.url,
                "author_handle": mention.author_handle,
                "author_name": mention.author_name,
                "author_id": mention.author_id,
                "author_followers": mention.author_followers,
                "reach": reach_score(mention.author_followers or 0),
                "text": mention.text,
                "posted_at": mention.posted_at,
                "fetched_at": now,
                "language": (score.language or "")[:8],
                "language_confidence": float(score.language_confidence),
                "sentiment": float(score.sentiment),
                "sentiment_label": score.sentiment_label,
                "toxicity": float(score.toxicity),
                "offensive": bool(score.offensive),
                "matched_terms": hits,
                "explanation": score.explanation,
                "engine_version": score.engine_version[:32],
            }
        )
    return Prepared(source, rows, len(mentions), duplicates)


# --- store --------------------------------------------------------------------------------------


def _columns() -> list[Any]:
    return list(Mention._meta.concrete_fields)


Column = tuple[str, Any, bool]  # attribute name, default (or its factory), default is a factory


def _column_defaults(fields: Sequence[Any]) -> list[Column]:
    """Each column's attribute name and the value a row without it takes: a constant default
    once per batch, a callable one (uuid4, now) per row, else NULL."""
    return [
        (f.attname, f.get_default, True)
        if f.has_default() and callable(f.default)
        else (f.attname, f.get_default() if f.has_default() else None, False)
        for f in fields
    ]


def _row_values(row: dict[str, Any], columns: Sequence[Column]) -> list[Any]:
    """Every column in table order; columns the pipeline does not set take their default
    (so a column another app adds, such as a nullable case link, needs no change here)."""
    return [
        row[name] if name in row else (default() if factory else default)
        for name, default, factory in columns
    ]


def _pg_type(f: Any) -> str:
    """The name psycopg knows for a column's type (`varchar(255)` → `varchar`)."""
    db_type = str(f.db_type(connection)).split("(")[0].strip()
    return {"timestamp with time zone": "timestamptz", "double precision": "float8"}.get(
        db_type, db_type
    )


def _store_postgresql(rows: list[dict[str, Any]]) -> list[uuid.UUID]:
    fields = _columns()
    table = Mention._meta.db_table
    names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (LIKE {table}) ON COMMIT DELETE ROWS"
        )
        # COPY has no place in Django's cursor API: the psycopg cursor underneath takes it.
        with cursor.cursor.copy(f"COPY {_STAGE} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types([_pg_type(f) for f in fields])
            columns = _column_defaults(fields)
            for row in rows:
                copy.write_row(_row_values(row, columns))
        cursor.execute(
            f"INSERT INTO {table} ({names}) SELECT {names} FROM {_STAGE} "  # noqa: S608 - names from the model
            "ON CONFLICT (source_id, external_id) DO NOTHING RETURNING id"
        )
        stored = [r[0] for r in cursor.fetchall()]
        cursor.execute(f"TRUNCATE {_STAGE}")
    return stored


def _store_portable(rows: list[dict[str, Any]]) -> list[uuid.UUID]:
    objects = [Mention(**row) for row in rows]
    Mention.all_tenants.bulk_create(objects, ignore_conflicts=True, batch_size=500)
    ids = [row["id"] for row in rows]
    return list(Mention.all_tenants.filter(pk__in=ids).values_list("id", flat=True))


def mentions_store(*, prepared: Prepared, actor: Actor) -> IngestResult:
    """Store a prepared batch in the caller's transaction; one event and the hooks if anything
    new was stored."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("mentions_store must run inside the batch's transaction")
    source = prepared.source
    result = IngestResult(duplicates=prepared.duplicates, received=prepared.received)
    if prepared.rows:
        store = _store_postgresql if connection.vendor == "postgresql" else _store_portable
        result.stored_ids = store(prepared.rows)
        result.duplicates += len(prepared.rows) - result.stored
    if not result.stored_ids:
        return result
    Source.all_tenants.filter(pk=source.pk).update(
        mentions_stored=F("mentions_stored") + result.stored
    )
    event_record(
        organisation=source.organisation,
        actor=actor,
        type="mentions.ingested",
        subject=subject_of(source),
        payload={
            "source": str(source.pk),
            "received": result.received,
            "stored": result.stored,
            "duplicates": result.duplicates,
        },
    )
    for hook in _hooks:
        hook(source.organisation_id, list(result.stored_ids))
    return result


def mentions_ingest(*, source: Source, mentions: Iterable[MentionIn], actor: Actor) -> IngestResult:
    """Score outside the transaction, store inside it (used by push; polls add the cursor)."""
    prepared = mentions_prepare(source=source, mentions=list(mentions))
    with transaction.atomic():
        return mentions_store(prepared=prepared, actor=actor)
