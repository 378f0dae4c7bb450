"""Data retention: mentions older than the organisation's retention are purged in bounded
batches, and everything about one social author is erased on request.

Neither keeps the erased content anywhere: the events they record carry counts, the cut-off and,
for an author, a keyed hash of the identifier (so a repeated request can be matched to an
earlier one by whoever holds the server key, but the log never names the person)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from crisis_api.api.errors import DomainError
from monitoring.models import Case, IncidentMention, Mention, Source
from organisations.events import Actor, event_record
from organisations.models import Organisation

PURGE_BATCH = 2_000
PURGE_MAX_BATCHES = 25  # per run, over all organisations: a run stays short; the next continues
RETENTION_ACTOR = Actor.system("retention")


def mention_retention_cutoff(organisation: Organisation, now: datetime) -> datetime:
    """Mentions posted before this are past the organisation's retention."""
    return now - timedelta(days=organisation.mention_retention_days)


def _expired(organisation: Organisation, cutoff: datetime) -> QuerySet[Mention]:
    """Past retention, except mentions kept as an incident's evidence (the incident's record
    needs them; they go when the author is erased or the incident is deleted)."""
    evidence = IncidentMention.all_tenants.filter(mention=OuterRef("pk"))
    return Mention.all_tenants.filter(organisation=organisation, posted_at__lt=cutoff).exclude(
        Exists(evidence)
    )


def mentions_purge_batch(*, organisation: Organisation, now: datetime, batch: int) -> int:
    """Delete one batch of the organisation's expired mentions, oldest first, and record
    `mention.retention_purged` in the same transaction. Rows another purge holds are skipped
    (SKIP LOCKED), so concurrent runs never double-count; re-running is harmless."""
    cutoff = mention_retention_cutoff(organisation, now)
    with transaction.atomic():
        ids = list(
            _expired(organisation, cutoff)
            .select_for_update(skip_locked=True)
            .order_by("posted_at", "id")
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            return 0
        Mention.all_tenants.filter(pk__in=ids).delete()
        event_record(
            organisation=organisation,
            actor=RETENTION_ACTOR,
            type="mention.retention_purged",
            subject=("organisation", str(organisation.pk)),
            payload={
                "mentions": len(ids),
                "cutoff": cutoff,
                "retention_days": organisation.mention_retention_days,
            },
        )
        return len(ids)


def mentions_purge_expired(
    *,
    now: datetime | None = None,
    batch: int = PURGE_BATCH,
    max_batches: int = PURGE_MAX_BATCHES,
) -> int:
    """The retention sweep: purge expired mentions organisation by organisation, at most
    `max_batches` batches per run (what is left waits for the next run)."""
    now = now or timezone.now()
    purged = batches = 0
    for organisation in Organisation.objects.order_by("pk"):
        while batches < max_batches:
            n = mentions_purge_batch(organisation=organisation, now=now, batch=batch)
            batches += 1 if n else 0
            purged += n
            if n < batch:
                break
        if batches >= max_batches:
            break
    return purged


# --- erasure on request --------------------------------------------------------------------------


class AuthorErasureError(DomainError):
    code = "author_erasure_invalid"


@dataclass(frozen=True, slots=True)
class AuthorErasure:
    """What an erasure removed: counts only, and the keyed hash of who it was about."""

    identifier_hash: str
    mentions: int
    cases: int
    evidence_links: int


def author_identifier_hash(*, platform: str, author: str) -> str:
    """HMAC-SHA256 (keyed with the deployment's secret) of `platform:author`, case-folded."""
    key = hashlib.sha256(f"author-erasure:{settings.SECRET_KEY}".encode()).digest()
    message = f"{platform}:{author.strip().lstrip('@').casefold()}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _author_match(author: str, *, id_field: str, handle_field: str) -> Q:
    bare = author.strip().lstrip("@")
    return (
        Q(**{id_field: author.strip()})
        | Q(**{f"{handle_field}__iexact": bare})
        | Q(**{f"{handle_field}__iexact": f"@{bare}"})
    )


def author_erase(
    *, organisation: Organisation, platform: str, author: str, actor: Actor
) -> AuthorErasure:
    """Erase everything about one social author on one platform: their mentions (across every
    source of that platform), their complaint cases and the mentions in those cases. Matches
    the author id or the handle (with or without `@`, any case). Records `author.erased` with
    counts and the identifier's keyed hash, never the content or the name."""
    if platform not in Source.Kind.values:
        raise AuthorErasureError(
            f"Unknown platform {platform!r}; one of {', '.join(Source.Kind.values)}."
        )
    if not author.strip().lstrip("@"):
        raise AuthorErasureError("Name the author by id or handle.")
    with transaction.atomic():
        mentions = Mention.all_tenants.filter(organisation=organisation, source__kind=platform)
        matched = mentions.filter(
            _author_match(author, id_field="author_id", handle_field="author_handle")
        )
        # The same person under another handle: every id the matched mentions carry.
        ids = {i for i in matched.values_list("author_id", flat=True) if i}
        cases = Case.all_tenants.filter(organisation=organisation, platform=platform).filter(
            _author_match(author, id_field="author_key", handle_field="author_handle")
            | Q(author_key__in=ids)
            | Q(pk__in=matched.exclude(case__isnull=True).values("case_id"))
        )
        case_ids = list(cases.select_for_update().values_list("pk", flat=True))
        doomed = mentions.filter(
            Q(pk__in=matched.values("pk")) | Q(author_id__in=ids) | Q(case_id__in=case_ids)
        )
        mention_ids = list(doomed.values_list("pk", flat=True))
        evidence = IncidentMention.all_tenants.filter(mention_id__in=mention_ids).count()
        Mention.all_tenants.filter(pk__in=mention_ids).delete()
        Case.all_tenants.filter(pk__in=case_ids).delete()
        digest = author_identifier_hash(platform=platform, author=author)
        event_record(
            organisation=organisation,
            actor=actor,
            type="author.erased",
            subject=("author", digest),
            payload={
                "platform": platform,
                "identifier_hash": digest,
                "hash": "hmac-sha256",
                "mentions": len(mention_ids),
                "cases": len(case_ids),
                "incident_evidence": evidence,
            },
        )
    return AuthorErasure(digest, len(mention_ids), len(case_ids), evidence)
