"""Publishing adapters: one per channel, each turning one publication into one post.

Mastodon and Bluesky are called per their documented APIs through the SSRF-guarded session
(the instance or PDS URL is the tenant's), with platform-side idempotency so a retry after a
lost response never posts twice: Mastodon's `Idempotency-Key` header, and on Bluesky a record
key derived from the publication (a retry first asks whether that record exists). The status
timeline writes a row in our database; e-mail goes through Django's backend; the webhook channel
is the `message.published` event, which the outbox relay delivers to the organisation's
endpoints (Standard Webhooks).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Protocol

import requests
from django.conf import settings
from django.core.mail import EmailMessage

from communications.models import Channel, ChannelAccount, Message, Publication, StatusUpdate
from communications.services.content import text_for
from crisis_api.crypto import decrypt
from crisis_api.net import UnsafeURLError, guarded_session

logger = logging.getLogger(__name__)
TIMEOUT = (5.0, 20.0)
BLUESKY_COLLECTION = "app.bsky.feed.post"
_B32_SORTABLE = "234567abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True, slots=True)
class Sent:
    external_id: str
    url: str = ""


class PublishError(Exception):
    """The platform refused or could not be reached; `reason` is what it said."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason[:2000]
        self.retryable = retryable


class Adapter(Protocol):
    def send(self, publication: Publication, message: Message) -> Sent: ...


def _account(message: Message, platform: str) -> ChannelAccount:
    account = ChannelAccount.all_tenants.filter(
        organisation_id=message.organisation_id, platform=platform, is_active=True
    ).first()
    if account is None:
        raise PublishError(f"No active {platform} account is connected.", retryable=False)
    return account


def _platform_error(platform: str, response: requests.Response) -> PublishError:
    """The platform's own words: Mastodon `{"error": …}`, XRPC `{"error", "message"}`."""
    try:
        body: Any = response.json()
    except ValueError:
        body = {}
    said = ""
    if isinstance(body, dict):
        said = ": ".join(str(body[k]) for k in ("error", "message") if body.get(k))
    said = said or response.text[:300] or response.reason
    status = response.status_code
    retryable = status in (408, 429) or status >= 500
    if 300 <= status < 400:
        said = f"redirected to {response.headers.get('Location', '?')} (not followed)"
    return PublishError(f"{platform} answered {status}: {said}", retryable=retryable)


def _call(platform: str, method: str, url: str, **kwargs: Any) -> requests.Response:
    session = guarded_session()
    try:
        response = session.request(method, url, timeout=TIMEOUT, **kwargs)
    except UnsafeURLError as exc:
        raise PublishError(
            f"{platform}: refused to connect: {exc.reason}", retryable=False
        ) from exc
    except requests.RequestException as exc:
        raise PublishError(f"{platform} unreachable: {exc}", retryable=True) from exc
    finally:
        session.close()
    return response


class MastodonAdapter:
    """POST /api/v1/statuses (https://docs.joinmastodon.org/methods/statuses/#create)."""

    def send(self, publication: Publication, message: Message) -> Sent:
        account = _account(message, Channel.MASTODON)
        form: dict[str, Any] = {
            "status": text_for(message, Channel.MASTODON),
            "visibility": "public",
            "language": message.language,
        }
        auth = {"Authorization": f"Bearer {decrypt(account.credential_ciphertext)}"}
        reply = message.reply_to.get(Channel.MASTODON)
        if reply:
            form["in_reply_to_id"] = reply.get("status_id") or self._local_id(
                account, reply["url"], auth
            )
        response = _call(
            "mastodon",
            "POST",
            account.base_url.rstrip("/") + "/api/v1/statuses",
            json=form,
            # Mastodon returns the first status for a repeated key (kept for an hour).
            headers={**auth, "Idempotency-Key": str(publication.pk)},
        )
        if response.status_code != 200:
            raise _platform_error("mastodon", response)
        status = response.json()
        return Sent(str(status["id"]), str(status.get("url") or status.get("uri") or ""))

    @staticmethod
    def _local_id(account: ChannelAccount, url: str, auth: dict[str, str]) -> str:
        """The id our instance knows a (possibly remote) post by: GET /api/v2/search with
        resolve=true (https://docs.joinmastodon.org/methods/search/#v2)."""
        response = _call(
            "mastodon",
            "GET",
            account.base_url.rstrip("/") + "/api/v2/search",
            params={"q": url, "type": "statuses", "resolve": "true", "limit": 1},
            headers=auth,
        )
        if response.status_code != 200:
            raise _platform_error("mastodon", response)
        statuses = response.json().get("statuses") or []
        if not statuses:
            raise PublishError(
                f"mastodon: the post replied to was not found: {url}", retryable=False
            )
        return str(statuses[0]["id"])


def tid_for(publication: Publication) -> str:
    """A Bluesky record key (TID: 53-bit microsecond time + 10-bit clock id, base32-sortable)
    fixed per publication, so every attempt writes the same record."""
    micros = int(publication.created_at.astimezone(UTC).timestamp() * 1_000_000)
    clock = publication.pk.int & 0x3FF
    value = ((micros & ((1 << 53) - 1)) << 10) | clock
    return "".join(_B32_SORTABLE[(value >> (5 * i)) & 31] for i in reversed(range(13)))


class BlueskyAdapter:
    """createSession + com.atproto.repo.createRecord of an app.bsky.feed.post
    (https://docs.bsky.app/docs/advanced-guides/posts)."""

    def send(self, publication: Publication, message: Message) -> Sent:
        account = _account(message, Channel.BLUESKY)
        base = account.base_url.rstrip("/")
        session = _call(
            "bluesky",
            "POST",
            f"{base}/xrpc/com.atproto.server.createSession",
            json={"identifier": account.handle, "password": decrypt(account.credential_ciphertext)},
        )
        if session.status_code != 200:
            raise _platform_error("bluesky", session)
        auth = session.json()
        did, headers = auth["did"], {"Authorization": f"Bearer {auth['accessJwt']}"}
        rkey = tid_for(publication)
        if publication.attempts > 1:  # an earlier attempt may have posted before failing
            existing = _call(
                "bluesky",
                "GET",
                f"{base}/xrpc/com.atproto.repo.getRecord",
                params={"repo": did, "collection": BLUESKY_COLLECTION, "rkey": rkey},
                headers=headers,
            )
            if existing.status_code == 200:
                return Sent(existing.json()["uri"], self._web_url(did, rkey))
        record: dict[str, Any] = {
            "$type": BLUESKY_COLLECTION,
            "text": text_for(message, Channel.BLUESKY),
            "createdAt": publication.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "langs": [message.language],
        }
        reply = message.reply_to.get(Channel.BLUESKY)
        if reply:
            record["reply"] = self._reply_refs(base, reply, headers)
        created = _call(
            "bluesky",
            "POST",
            f"{base}/xrpc/com.atproto.repo.createRecord",
            json={"repo": did, "collection": BLUESKY_COLLECTION, "rkey": rkey, "record": record},
            headers=headers,
        )
        if created.status_code != 200:
            raise _platform_error("bluesky", created)
        return Sent(created.json()["uri"], self._web_url(did, rkey))

    @staticmethod
    def _reply_refs(base: str, reply: dict[str, str], headers: dict[str, str]) -> dict[str, Any]:
        """Strong refs to the parent and the thread's root; what the mention did not record
        (cid, root) comes from app.bsky.feed.getPosts, which the PDS proxies to the AppView."""
        parent = {"uri": reply["uri"], "cid": reply.get("cid", "")}
        root = {"uri": reply.get("root_uri", ""), "cid": reply.get("root_cid", "")}
        if not parent["cid"] or not root["uri"]:
            found = _call(
                "bluesky",
                "GET",
                f"{base}/xrpc/app.bsky.feed.getPosts",
                params={"uris": reply["uri"]},
                headers=headers,
            )
            if found.status_code != 200:
                raise _platform_error("bluesky", found)
            posts = found.json().get("posts") or []
            if not posts:
                raise PublishError(
                    f"bluesky: the post replied to is gone: {reply['uri']}", retryable=False
                )
            parent["cid"] = parent["cid"] or str(posts[0]["cid"])
            thread = (posts[0].get("record") or {}).get("reply") or {}
            root = dict(thread.get("root") or {}) or root
        if not root.get("uri"):
            root = dict(parent)
        return {"root": {"uri": root["uri"], "cid": root["cid"]}, "parent": parent}

    @staticmethod
    def _web_url(did: str, rkey: str) -> str:
        return f"https://bsky.app/profile/{did}/post/{rkey}"


class StatusPageAdapter:
    """The organisation's public status timeline: one StatusUpdate per message."""

    def send(self, publication: Publication, message: Message) -> Sent:
        update, _ = StatusUpdate.all_tenants.get_or_create(
            message=message,
            defaults={
                "organisation_id": message.organisation_id,
                "incident_id": message.incident_id,
                "label": message.status_label,
                "title": message.title,
                "body": text_for(message, Channel.STATUS_PAGE),
                "published_at": publication.created_at,
            },
        )
        return Sent(str(update.pk))


class EmailAdapter:
    """Django's e-mail backend (SMTP or an anymail provider); recipients in Bcc."""

    def send(self, publication: Publication, message: Message) -> Sent:
        message_id = f"<{publication.pk}@crisis-api>"
        email = EmailMessage(
            subject=message.title or message.get_kind_display(),
            body=text_for(message, Channel.EMAIL),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[],
            bcc=list(message.recipients),
            headers={"Message-ID": message_id},
        )
        try:
            email.send(fail_silently=False)
        except Exception as exc:  # SMTP and provider errors alike; the next attempt retries
            raise PublishError(f"e-mail: {exc}", retryable=True) from exc
        return Sent(message_id)


class WebhookAdapter:
    """Nothing to call here: `message.published` reaches the organisation's webhook endpoints
    through the outbox relay (signed, retried, logged by notifications)."""

    def send(self, publication: Publication, message: Message) -> Sent:
        return Sent("event:message.published")


ADAPTERS: dict[str, Adapter] = {
    Channel.MASTODON: MastodonAdapter(),
    Channel.BLUESKY: BlueskyAdapter(),
    Channel.STATUS_PAGE: StatusPageAdapter(),
    Channel.EMAIL: EmailAdapter(),
    Channel.WEBHOOK: WebhookAdapter(),
}
EXTERNAL = frozenset({Channel.MASTODON, Channel.BLUESKY, Channel.EMAIL})
