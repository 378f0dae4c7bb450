"""The organisation's communications set-up: platform accounts (credentials encrypted),
banned terms, and the public status page settings."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from communications.models import BannedTerm, ChannelAccount, StatusPage
from crisis_api.api.errors import ConflictError, DomainError
from crisis_api.crypto import encrypt
from crisis_api.net import UnsafeURLError, check_url
from organisations.events import Actor, event_record
from organisations.models import Organisation


def _record(obj: Any, organisation: Organisation, actor: Actor, type: str, **payload: Any) -> None:
    event_record(
        organisation=organisation,
        actor=actor,
        type=type,
        subject=(type.split(".")[0], str(obj.pk)),
        payload=payload,
    )


def _hint(secret: str) -> str:
    return f"…{secret[-4:]}" if len(secret) >= 12 else "…"


def _check_base_url(url: str) -> None:
    if not url.startswith("https://"):
        raise DomainError("base_url: use https.")
    try:
        check_url(url)
    except UnsafeURLError as exc:
        raise DomainError(f"base_url: {exc.reason}") from exc


@transaction.atomic
def channel_account_connect(
    *,
    organisation: Organisation,
    actor: Actor,
    platform: str,
    base_url: str,
    handle: str,
    credential: str,
    is_active: bool = True,
) -> ChannelAccount:
    """Connect a Mastodon (access token) or Bluesky (app password) account; one active per
    platform. The URL is checked against the SSRF policy now and again at every connect."""
    _check_base_url(base_url)
    try:
        with transaction.atomic():
            account = ChannelAccount.all_tenants.create(
                organisation=organisation,
                platform=platform,
                base_url=base_url.rstrip("/"),
                handle=handle,
                credential_ciphertext=encrypt(credential),
                credential_hint=_hint(credential),
                is_active=is_active,
            )
    except IntegrityError as exc:
        raise ConflictError(
            f"An active {platform} account is connected; disconnect it first."
        ) from exc
    _record(
        account,
        organisation,
        actor,
        "channel_account.connected",
        platform=platform,
        handle=handle,
        base_url=account.base_url,
    )
    return account


@transaction.atomic
def channel_account_update(
    *, account: ChannelAccount, actor: Actor, **fields: Any
) -> ChannelAccount:
    """Change the handle, URL or credential, or deactivate the account."""
    if "base_url" in fields:
        _check_base_url(fields["base_url"])
        fields["base_url"] = fields["base_url"].rstrip("/")
    credential = fields.pop("credential", None)
    if credential:
        account.credential_ciphertext = encrypt(credential)
        account.credential_hint = _hint(credential)
    for name, value in fields.items():
        setattr(account, name, value)
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError as exc:
        raise ConflictError(f"An active {account.platform} account is already connected.") from exc
    _record(
        account,
        account.organisation,
        actor,
        "channel_account.updated",
        changed=sorted([*fields, *(["credential"] if credential else [])]),
    )
    return account


@transaction.atomic
def channel_account_delete(*, account: ChannelAccount, actor: Actor) -> None:
    """Disconnect and forget the credential."""
    _record(
        account,
        account.organisation,
        actor,
        "channel_account.deleted",
        platform=account.platform,
        handle=account.handle,
    )
    account.delete()


@transaction.atomic
def banned_term_create(*, organisation: Organisation, actor: Actor, **fields: Any) -> BannedTerm:
    """Ban a word or phrase in the organisation's messages."""
    fields["term"] = " ".join(str(fields.get("term", "")).split())
    if not fields["term"]:
        raise DomainError("term: empty.")
    try:
        with transaction.atomic():
            term = BannedTerm.all_tenants.create(organisation=organisation, **fields)
    except IntegrityError as exc:
        raise ConflictError("This term is already banned.") from exc
    _record(
        term, organisation, actor, "banned_term.created", term=term.term, severity=term.severity
    )
    return term


@transaction.atomic
def banned_term_delete(*, term: BannedTerm, actor: Actor) -> None:
    """Lift a ban."""
    _record(term, term.organisation, actor, "banned_term.deleted", term=term.term)
    term.delete()


def status_page_get(*, organisation: Organisation) -> StatusPage:
    """The organisation's status page settings (a disabled page until someone enables it)."""
    page, _ = StatusPage.all_tenants.get_or_create(
        organisation=organisation, defaults={"title": organisation.name}
    )
    return page


@transaction.atomic
def status_page_update(*, organisation: Organisation, actor: Actor, **fields: Any) -> StatusPage:
    """Enable the public timeline, or change its title, description or history."""
    page = status_page_get(organisation=organisation)
    page = StatusPage.all_tenants.select_for_update().get(pk=page.pk)
    changed = {k: v for k, v in fields.items() if getattr(page, k) != v}
    for name, value in changed.items():
        setattr(page, name, value)
    if changed:
        page.updated_at = timezone.now()
        page.save()
        _record(page, organisation, actor, "status_page.updated", changed=sorted(changed))
    return page
