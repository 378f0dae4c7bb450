"""What a message may contain and where it may go: channels per kind, platform length limits,
reply targets and recipients. Checked on every create and edit, so nothing invalid is stored."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from rest_framework.exceptions import ValidationError

from communications.models import CHANNEL_LIMITS, Channel, Message, MessageKind

C = Channel
KIND_CHANNELS: dict[str, frozenset[str]] = {
    MessageKind.PUBLIC_STATEMENT: frozenset(
        {C.STATUS_PAGE, C.MASTODON, C.BLUESKY, C.WEBHOOK, C.EMAIL}
    ),
    MessageKind.STATUS_UPDATE: frozenset({C.STATUS_PAGE, C.MASTODON, C.BLUESKY, C.WEBHOOK}),
    MessageKind.REPLY: frozenset({C.MASTODON, C.BLUESKY}),
    MessageKind.INTERNAL_UPDATE: frozenset({C.EMAIL, C.WEBHOOK}),
    MessageKind.STAKEHOLDER_EMAIL: frozenset({C.EMAIL}),
}
MAX_RECIPIENTS = 500
_MASTODON_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
_AT_URI = re.compile(r"at://[A-Za-z0-9:._-]+/app\.bsky\.feed\.post/[A-Za-z0-9._~:-]{1,512}")
_CID = re.compile(r"[a-z0-9]{8,128}")


def grapheme_length(text: str) -> int:
    """User-perceived characters, as Bluesky counts its 300: combining marks, variation
    selectors and emoji joined by ZWJ do not start a new one."""
    count = 0
    joined = False
    for ch in text:
        if (
            unicodedata.combining(ch)
            or 0xFE00 <= ord(ch) <= 0xFE0F
            or 0x1F3FB <= ord(ch) <= 0x1F3FF
        ):
            continue
        if ch == "\u200d":
            joined = True
            continue
        if joined:
            joined = False
            continue
        count += 1
    return count


def text_for(message: Message, channel: str) -> str:
    """What goes out on `channel`: its rendition, else the body."""
    rendition = message.renditions.get(channel) if isinstance(message.renditions, dict) else None
    return rendition if isinstance(rendition, str) and rendition.strip() else message.body


def _length(channel: str, text: str) -> int:
    return grapheme_length(text) if channel == Channel.BLUESKY else len(text)


def validate_content(fields: Mapping[str, Any]) -> None:
    """Raise a 400 naming every problem of a message's content (all fields already merged)."""
    errors: dict[str, list[str]] = {}

    def fail(name: str, detail: str) -> None:
        errors.setdefault(name, []).append(detail)

    kind: str = fields["kind"]
    channels: Sequence[str] = fields.get("channels") or []
    allowed = KIND_CHANNELS[kind]
    if not channels:
        fail("channels", f"Name at least one of: {', '.join(sorted(allowed))}.")
    for channel in channels:
        if channel not in allowed:
            fail(
                "channels",
                f"A {kind} cannot go to {channel}; allowed: {', '.join(sorted(allowed))}.",
            )
    if len(set(channels)) != len(channels):
        fail("channels", "Each channel once.")
    renditions: Mapping[str, Any] = fields.get("renditions") or {}
    for channel, text in renditions.items():
        if channel not in channels:
            fail("renditions", f"{channel!r} is not one of the message's channels.")
        elif not isinstance(text, str):
            fail("renditions", f"{channel}: a rendition is text.")
    body: str = fields.get("body") or ""
    if not body.strip():
        fail("body", "The body is empty.")
    for channel in channels:
        text = renditions.get(channel) if isinstance(renditions.get(channel), str) else None
        text = text if text and text.strip() else body
        limit = CHANNEL_LIMITS.get(channel)
        if limit is not None and _length(channel, text) > limit:
            unit = "graphemes" if channel == Channel.BLUESKY else "characters"
            target = f"renditions.{channel}" if channel in renditions else "body"
            fail(
                target, f"{channel} allows {limit} {unit}; this text has {_length(channel, text)}."
            )
    if Channel.STATUS_PAGE in channels:
        if not (fields.get("title") or "").strip():
            fail("title", "A status-page update needs a title.")
        if not fields.get("status_label"):
            fail("status_label", "A status-page update needs a label (investigating, …).")
    if fields.get("status_label") and fields["status_label"] not in Message.StatusLabel.values:
        fail("status_label", "Unknown label.")
    recipients: Sequence[str] = fields.get("recipients") or []
    if Channel.EMAIL in channels and not recipients:
        fail("recipients", "E-mail needs at least one recipient.")
    if len(recipients) > MAX_RECIPIENTS:
        fail("recipients", f"At most {MAX_RECIPIENTS} recipients.")
    for address in recipients:
        try:
            validate_email(address)
        except DjangoValidationError:
            fail("recipients", f"{address!r} is not an e-mail address.")
    _validate_reply_to(kind, channels, fields.get("reply_to") or {}, fail)
    if errors:
        raise ValidationError(errors)


def _validate_reply_to(
    kind: str, channels: Sequence[str], reply_to: Mapping[str, Any], fail: Any
) -> None:
    for platform in reply_to:
        if platform not in (Channel.MASTODON, Channel.BLUESKY):
            fail("reply_to", f"{platform!r}: replies go to mastodon or bluesky.")
    mastodon = reply_to.get(Channel.MASTODON)
    if mastodon is not None and not (
        isinstance(mastodon, dict)
        and (
            _MASTODON_ID.fullmatch(str(mastodon.get("status_id", "")))
            or str(mastodon.get("url", "")).startswith("https://")
        )
    ):
        fail("reply_to", 'mastodon: give {"status_id": "…"} on our instance or the post\'s "url".')
    bluesky = reply_to.get(Channel.BLUESKY)
    if bluesky is not None:
        ok = isinstance(bluesky, dict) and all(
            key not in bluesky
            or (isinstance(bluesky[key], str) and pattern.fullmatch(bluesky[key]) is not None)
            for key, pattern in (
                ("uri", _AT_URI),
                ("cid", _CID),
                ("root_uri", _AT_URI),
                ("root_cid", _CID),
            )
        )
        if not (ok and "uri" in bluesky and ("root_uri" in bluesky) == ("root_cid" in bluesky)):
            fail(
                "reply_to", 'bluesky: give {"uri": "at://…"} (cid, root_uri and root_cid optional).'
            )
    if kind == MessageKind.REPLY:
        for channel in channels:
            if channel not in reply_to:
                fail("reply_to", f"A reply on {channel} needs the post it replies to.")
