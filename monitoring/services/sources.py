"""Writes on sources and watch terms: create (config validated per kind, credentials encrypted,
a push secret shown once), update, delete, pause/resume, poll now, rotate the push secret."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from crisis_api.api.errors import ConflictError, DomainError, LimitExceededError
from crisis_api.crypto import decrypt, encrypt
from crisis_api.net import UnsafeURLError, check_url
from monitoring.connectors import CONNECTORS, ConfigError
from monitoring.models import Source, WatchTerm, WatchTermVersion
from organisations.events import Actor, event_record, subject_of
from organisations.models import Organisation

PUSH_SECRET_OVERLAP = timedelta(hours=24)
MIN_POLL_INTERVAL = 60
URL_CONFIG_KEYS = ("url", "instance_url", "service_url")


class SourceConfigError(DomainError):
    """The configuration or credentials do not fit the source's kind (400, per field)."""

    code = "invalid_source_config"


class SourceStateError(ConflictError):
    """The source's kind or state does not allow the action (409)."""

    code = "source_state_conflict"


@dataclass(frozen=True)
class IssuedSource:
    """A created source, with its push secret when it has one (shown once)."""

    source: Source
    secret: str | None


def _record(source: Source, actor: Actor, type: str, payload: dict[str, Any] | None = None) -> None:
    event_record(
        organisation=source.organisation,
        actor=actor,
        type=type,
        subject=subject_of(source),
        payload={"name": source.name, "kind": source.kind, **(payload or {})},
    )


def _clean_config(kind: str, config: Mapping[str, Any]) -> dict[str, Any]:
    if kind == Source.Kind.PUSH:
        if config:
            raise SourceConfigError(
                "Push sources take no configuration.",
                errors=[
                    {"attr": f"config.{k}", "code": "invalid", "detail": "Unknown field."}
                    for k in config
                ],
            )
        return {}
    try:
        cleaned = CONNECTORS[kind].clean_config(config)
    except ConfigError as exc:
        raise SourceConfigError(
            "The configuration does not fit this kind of source.",
            errors=[
                {"attr": f"config.{k}", "code": "invalid", "detail": v}
                for k, v in exc.errors.items()
            ],
        ) from exc
    for key in URL_CONFIG_KEYS:  # URLs the tenant gave (defaults are the platforms' own)
        if config.get(key) and cleaned.get(key):
            try:
                check_url(cleaned[key])
            except UnsafeURLError as exc:
                raise SourceConfigError(
                    f"config.{key}: {exc.reason}",
                    errors=[{"attr": f"config.{key}", "code": "invalid", "detail": exc.reason}],
                ) from exc
    return cleaned


def _clean_credentials(kind: str, credentials: Mapping[str, Any]) -> dict[str, str]:
    if kind == Source.Kind.PUSH:
        required: tuple[str, ...] = ()
        optional: tuple[str, ...] = ()
    else:
        required = CONNECTORS[kind].required_credentials
        optional = CONNECTORS[kind].optional_credentials
    errors = [
        {
            "attr": f"credentials.{name}",
            "code": "invalid",
            "detail": "Unknown credential for this kind.",
        }
        for name in sorted(set(credentials) - set(required) - set(optional))
    ]
    errors += [
        {
            "attr": f"credentials.{name}",
            "code": "invalid",
            "detail": "Required; a non-empty string.",
        }
        for name in required
        if not isinstance(credentials.get(name), str) or not credentials[name].strip()
    ]
    errors += [
        {"attr": f"credentials.{name}", "code": "invalid", "detail": "Must be a string."}
        for name, value in credentials.items()
        if name in optional and not isinstance(value, str)
    ]
    if errors:
        raise SourceConfigError("The credentials do not fit this kind of source.", errors=errors)
    return {k: v.strip() for k, v in credentials.items() if v and v.strip()}


def credentials_of(source: Source) -> dict[str, str]:
    """The source's decrypted credentials (for connectors only; never rendered)."""
    if not source.credentials_ciphertext:
        return {}
    value: dict[str, str] = json.loads(decrypt(source.credentials_ciphertext))
    return value


def credential_names(source: Source) -> list[str]:
    return sorted(credentials_of(source))


def _new_push_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def push_secrets(source: Source) -> list[str]:
    """Keys that may sign a push to this source now: the current one, plus the previous one
    during a rotation's overlap."""
    keys = [decrypt(source.push_secret_ciphertext)] if source.push_secret_ciphertext else []
    expires = source.previous_push_secret_expires_at
    if source.previous_push_secret_ciphertext and expires and expires > timezone.now():
        keys.append(decrypt(source.previous_push_secret_ciphertext))
    return keys


@transaction.atomic
def source_create(
    *,
    organisation: Organisation,
    actor: Actor,
    kind: str,
    name: str,
    config: Mapping[str, Any] | None = None,
    credentials: Mapping[str, Any] | None = None,
    poll_interval_seconds: int = 300,
) -> IssuedSource:
    """Add a source within the plan's limit; a polled one is due at once, a push one gets a
    `whsec_` signing secret that is returned here only."""
    organisation = Organisation.objects.select_for_update().get(pk=organisation.pk)
    count = Source.all_tenants.filter(organisation=organisation).count()
    if count >= organisation.max_sources:
        raise LimitExceededError(
            f"The plan allows {organisation.max_sources} sources; remove one or upgrade."
        )
    cleaned = _clean_config(kind, config or {})
    creds = _clean_credentials(kind, credentials or {})
    now = timezone.now()
    secret = _new_push_secret() if kind == Source.Kind.PUSH else None
    source = Source.all_tenants.create(
        organisation=organisation,
        kind=kind,
        name=name,
        config=cleaned,
        credentials_ciphertext=encrypt(json.dumps(creds)) if creds else "",
        poll_interval_seconds=max(MIN_POLL_INTERVAL, poll_interval_seconds),
        next_poll_at=None if secret else now,
        push_secret_ciphertext=encrypt(secret) if secret else "",
        push_secret_hint=secret[:10] if secret else "",
        created_by_id=actor.user_id,
        created_at=now,
        updated_at=now,
    )
    _record(source, actor, "source.created", {"credentials": sorted(creds)})
    return IssuedSource(source, secret)


@transaction.atomic
def source_update(
    *,
    source: Source,
    actor: Actor,
    name: str | None = None,
    config: Mapping[str, Any] | None = None,
    credentials: Mapping[str, Any] | None = None,
    poll_interval_seconds: int | None = None,
) -> Source:
    """Rename, reconfigure (validated again; the cursor restarts), replace credentials or
    change the interval. Credentials are named in the event, never included."""
    source = Source.all_tenants.select_for_update().get(pk=source.pk)
    changes: dict[str, Any] = {}
    if name is not None and name != source.name:
        changes["name"] = {"from": source.name, "to": name}
        source.name = name
    if config is not None:
        cleaned = _clean_config(source.kind, config)
        if cleaned != source.config:
            changes["config"] = {"from": source.config, "to": cleaned}
            source.config, source.cursor = cleaned, {}
    if credentials is not None:
        creds = _clean_credentials(source.kind, credentials)
        source.credentials_ciphertext = encrypt(json.dumps(creds)) if creds else ""
        changes["credentials"] = {"to": sorted(creds)}
    if poll_interval_seconds is not None:
        interval = max(MIN_POLL_INTERVAL, poll_interval_seconds)
        if interval != source.poll_interval_seconds:
            changes["poll_interval_seconds"] = {
                "from": source.poll_interval_seconds,
                "to": interval,
            }
            source.poll_interval_seconds = interval
    if not changes:
        return source
    source.updated_at = timezone.now()
    source.save()
    _record(source, actor, "source.updated", {"changes": changes})
    return source


@transaction.atomic
def source_delete(*, source: Source, actor: Actor) -> None:
    """Remove a source and its mentions (the event keeps its name and how many there were)."""
    _record(source, actor, "source.deleted", {"mentions_stored": source.mentions_stored})
    source.delete()


@transaction.atomic
def source_set_status(*, source: Source, actor: Actor, status: str) -> Source:
    """Pause (no polls, pushes refused) or resume (due at once, backoff forgotten)."""
    source = Source.all_tenants.select_for_update().get(pk=source.pk)
    if source.status == status:
        return source
    now = timezone.now()
    source.status, source.updated_at = status, now
    if status == Source.Status.ACTIVE:
        source.backoff_until = None
        source.next_poll_at = now if source.is_polled else None
    source.save()
    verb = "resumed" if status == Source.Status.ACTIVE else "paused"
    _record(source, actor, f"source.{verb}")
    return source


def source_lease_seconds() -> int:
    from django.conf import settings

    return int(getattr(settings, "CELERY_TASK_TIME_LIMIT", 300)) + 60


@transaction.atomic
def source_poll_now(*, source: Source, actor: Actor) -> uuid.UUID:
    """Claim the source for an immediate poll (ignoring its backoff) and return the lease token
    for the task; 409 if a poll holds it already, it is paused, or it is not polled."""
    if not source.is_polled:
        raise SourceStateError("Push sources are not polled; they receive batches.")
    if source.status != Source.Status.ACTIVE:
        raise SourceStateError("The source is paused; resume it first.")
    now = timezone.now()
    token = uuid.uuid4()
    claimed = (
        Source.all_tenants.filter(pk=source.pk)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_token=token, lease_until=now + timedelta(seconds=source_lease_seconds()))
    )
    if not claimed:
        raise SourceStateError("A poll of this source is already running.")
    _record(source, actor, "source.poll_requested")
    return token


@transaction.atomic
def source_secret_rotate(*, source: Source, actor: Actor) -> str:
    """A new push secret now; the previous one still verifies for 24 hours."""
    source = Source.all_tenants.select_for_update().get(pk=source.pk)
    if source.kind != Source.Kind.PUSH:
        raise SourceStateError("Only push sources have a signing secret.")
    secret = _new_push_secret()
    now = timezone.now()
    source.previous_push_secret_ciphertext = source.push_secret_ciphertext
    source.previous_push_secret_expires_at = now + PUSH_SECRET_OVERLAP
    source.push_secret_ciphertext, source.push_secret_hint = encrypt(secret), secret[:10]
    source.updated_at = now
    source.save()
    _record(source, actor, "source.secret_rotated", {"hint": source.push_secret_hint})
    return secret


# --- watch terms --------------------------------------------------------------------------------


def _bump_watch_terms(organisation: Organisation) -> None:
    """Tell every worker's cached matcher of this organisation that it is stale."""
    updated = WatchTermVersion.objects.filter(organisation=organisation).update(
        version=F("version") + 1
    )
    if not updated:
        WatchTermVersion.objects.get_or_create(organisation=organisation, defaults={"version": 1})


def _check_unique(organisation: Organisation, phrase: str, language: str, exclude: Any) -> None:
    clash = WatchTerm.all_tenants.filter(
        organisation=organisation, phrase__iexact=phrase, language=language
    ).exclude(pk=exclude)
    if clash.exists():
        raise ConflictError(f"The watch term {phrase!r} exists already.")


def _record_term(term: WatchTerm, actor: Actor, type: str, payload: dict[str, Any]) -> None:
    event_record(
        organisation=term.organisation,
        actor=actor,
        type=type,
        subject=subject_of(term),
        payload={"phrase": term.phrase, "kind": term.kind, **payload},
    )


@transaction.atomic
def watch_term_create(
    *, organisation: Organisation, actor: Actor, phrase: str, kind: str, language: str = ""
) -> WatchTerm:
    """Watch a phrase (unique per organisation and language, case-insensitively)."""
    phrase = " ".join(phrase.split())
    _check_unique(organisation, phrase, language, None)
    term = WatchTerm.all_tenants.create(
        organisation=organisation, phrase=phrase, kind=kind, language=language
    )
    _bump_watch_terms(organisation)
    _record_term(term, actor, "watch_term.created", {"language": language})
    return term


@transaction.atomic
def watch_term_update(*, term: WatchTerm, actor: Actor, **fields: Any) -> WatchTerm:
    """Change a term's phrase, kind or language; matchers pick it up on their next batch."""
    if "phrase" in fields:
        fields["phrase"] = " ".join(fields["phrase"].split())
    changes = {
        k: {"from": getattr(term, k), "to": v} for k, v in fields.items() if getattr(term, k) != v
    }
    if not changes:
        return term
    _check_unique(
        term.organisation,
        fields.get("phrase", term.phrase),
        fields.get("language", term.language),
        term.pk,
    )
    for name in changes:
        setattr(term, name, fields[name])
    term.save()
    _bump_watch_terms(term.organisation)
    _record_term(term, actor, "watch_term.updated", {"changes": changes})
    return term


@transaction.atomic
def watch_term_delete(*, term: WatchTerm, actor: Actor) -> None:
    """Stop watching a phrase; stored mentions keep the hits they had."""
    _record_term(term, actor, "watch_term.deleted", {})
    _bump_watch_terms(term.organisation)
    term.delete()
