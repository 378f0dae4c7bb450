"""Channel adapters behind one interface: `send(target, message) -> Sent`, raising
`TransientError` (retry later, maybe after Retry-After) or `PermanentError` (give up).

E-mail goes through Django's e-mail backend (any django-anymail provider by settings; the
provider's message id is kept when the backend reports one). SMS is Twilio's Messages API.
Slack (incoming webhook), Microsoft Teams (Workflows webhook with an Adaptive Card) and plain
webhooks are tenant-supplied URLs, so they go through the SSRF-guarded client
(`crisis_api.net.GuardedPool` on `http.client`, one per sending thread, connections kept alive).
"""

from __future__ import annotations

import contextlib
import email.policy as email_policy
import json
import re
import smtplib
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import make_msgid
from typing import Any, Protocol

import requests
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.core.mail.utils import DNS_NAME

from crisis_api.net import (
    GuardedPool,
    Reply,
    TransportError,
    UnsafeURLError,
    per_thread,
    retry_after,
)

TIMEOUT = (3.05, 10.0)
JSON_HEADERS = {"Content-Type": "application/json", "User-Agent": "crisis-api"}


class TransientError(Exception):
    """Worth retrying: timeouts, 5xx, 429, connection trouble."""

    def __init__(self, reason: str, retry_after: timedelta | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class PermanentError(Exception):
    """Retrying will not help: bad address, rejected payload, channel not configured."""


@dataclass(frozen=True)
class Message:
    """A notification rendered for every channel (see rendering.py)."""

    subject: str
    text: str
    short: str
    link: str
    facts: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Sent:
    provider_id: str = ""
    delivered: bool = False


class Sender(Protocol):
    def send(self, target: str, message: Message) -> Sent: ...


def _classify(reply: Reply, provider: str) -> None:
    """Raise for anything but 2xx: 429/5xx transient, other 4xx (and 3xx) permanent."""
    code = reply.status
    if 200 <= code < 300:
        return
    detail = f"{provider} answered {code}: {reply.text[:200]}"
    if code == 429 or code >= 500:
        raise TransientError(detail, retry_after(reply))
    raise PermanentError(detail)


def _post_json(url: str, provider: str, payload: Any) -> Reply:
    """POST JSON to a tenant-supplied URL through this thread's guarded pool."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    try:
        return _pool().post(url, body=body, headers=JSON_HEADERS, timeout=TIMEOUT)
    except UnsafeURLError as exc:
        raise TransientError(f"{provider} URL refused by the SSRF guard: {exc}") from exc
    except TransportError as exc:
        raise TransientError(f"{provider}: {exc}") from exc


class EmailSender:
    """Django's e-mail backend (SMTP, or a django-anymail provider), over a connection kept
    per thread while it is busy, so a fan-out does not pay a handshake per message.

    Over Django's SMTP backend, the MIME message of one text is built once (per thread, for up
    to `MAIL_TEMPLATE_SECONDS`) with placeholders for the recipient, the acknowledgement link and
    the Message-ID, and each recipient's copy is those bytes with the three filled in: building
    the message costs ten times the SMTP exchange. The body goes as 7bit/8bit text (where Django
    would pick quoted-printable for the link's long line), so nothing put in is ever encoded.
    Only for plain ASCII addresses and links and body lines within SMTP's limit; otherwise, and
    for every other backend, each message is built as usual.
    """

    def send(self, target: str, message: Message) -> Sent:
        try:
            connection = _mail_connection()
            if isinstance(connection, SMTPBackend) and (
                template := _mail_template(connection, message, target)
            ):
                template.send(connection, target, message.link)
                return Sent()
            email = _email(message, target)
            email.connection = connection
            sent = email.send()
        except smtplib.SMTPRecipientsRefused as exc:  # an OSError, but no retry will help
            raise PermanentError(f"e-mail rejected: {exc.recipients}") from exc
        except smtplib.SMTPResponseException as exc:
            _drop_mail_connection()
            if exc.smtp_code >= 500:  # 5xx is final (RFC 5321); 4xx is worth another try
                raise PermanentError(
                    f"e-mail rejected: {exc.smtp_code} {exc.smtp_error!r}"
                ) from exc
            raise TransientError(f"e-mail backend: {exc.smtp_code} {exc.smtp_error!r}") from exc
        except (OSError, TimeoutError) as exc:
            _drop_mail_connection()
            raise TransientError(f"e-mail backend: {exc}") from exc
        except Exception as exc:  # anymail and other backends raise their own rejections
            _drop_mail_connection()
            raise PermanentError(f"e-mail rejected: {exc}") from exc
        if not sent:
            raise TransientError("the e-mail backend sent nothing")
        message_id = getattr(getattr(email, "anymail_status", None), "message_id", None)
        return Sent(provider_id="" if message_id is None else str(message_id))


def _email(message: Message, target: str, link: str | None = None) -> EmailMultiAlternatives:
    link = message.link if link is None else link
    body = f"{message.text}\n"
    if link:  # verification codes have nothing to acknowledge
        body += f"\nAcknowledge: {link}\n"
    return EmailMultiAlternatives(
        subject=message.subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[target]
    )


#: A built message is reused for this long (its Date header is as old as that at most).
MAIL_TEMPLATE_SECONDS = 30.0
_TO = "recipient@placeholder.invalid"
_LINK = "https://placeholder.invalid/acknowledge"
_MESSAGE_ID = "<message-id@placeholder.invalid>"
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+")
_MAX_LINE, _MAX_LINK = 998, 400  # SMTP's line limit; the longest link put in unencoded
_PLAIN_LINK = re.compile(rf"https?://[A-Za-z0-9._~:/?#@!$&'()*+,;=%-]{{1,{_MAX_LINK - 8}}}")


@dataclass
class _MailTemplate:
    sender: str
    raw: bytes
    built: float

    def send(self, connection: SMTPBackend, target: str, link: str) -> None:
        raw = (
            self.raw.replace(_TO.encode(), target.encode(), 1)
            .replace(_MESSAGE_ID.encode(), make_msgid(domain=DNS_NAME).encode(), 1)
            .replace(_LINK.encode(), link.encode(), 1)
        )
        with connection._lock:  # as the backend's own send_messages
            if connection.connection is None:
                raise smtplib.SMTPServerDisconnected("the SMTP connection is not open")
            connection.connection.sendmail(self.sender, [target], raw)


def _mail_template(connection: SMTPBackend, message: Message, target: str) -> _MailTemplate | None:
    """This thread's built message for `message`'s text, or None where the fast path does not
    apply (see `EmailSender`)."""
    if not _PLAIN_ADDRESS.fullmatch(target):
        return None
    if message.link and not _PLAIN_LINK.fullmatch(message.link):
        return None
    cache: dict[tuple[str, str, str, bool], _MailTemplate | None] = (
        getattr(_local, "templates", None) or {}
    )
    _local.templates = cache
    now = time.monotonic()
    key = (message.subject, message.text, settings.DEFAULT_FROM_EMAIL, bool(message.link))
    if key in cache:
        kept = cache[key]
        if kept is None or now - kept.built <= MAIL_TEMPLATE_SECONDS:
            return kept
    if len(cache) >= 32:
        cache.clear()
    email = _email(message, _TO, link=_LINK if message.link else "")
    email.extra_headers["Message-ID"] = _MESSAGE_ID
    built = email.message(policy=email_policy.SMTP)
    # Django picks quoted-printable for a body line over 78 characters, and the link's line
    # always is one: the copy's body is 7bit/8bit text instead (SMTP allows lines up to 998;
    # Django's SMTP policy sends 8bit bodies already), so the link can be put in as it is.
    longest = max(len(line.encode()) for line in email.body.splitlines() or [""])
    usable = longest <= _MAX_LINE - _MAX_LINK and not built.is_multipart()
    if usable:
        cte = "7bit" if email.body.isascii() else "8bit"
        built.set_content(email.body, subtype="plain", charset="utf-8", cte=cte)
    raw = built.as_bytes()
    head = raw.partition(b"\r\n\r\n")[0]
    counts = [raw.count(token.encode()) for token in (_TO, _MESSAGE_ID)]
    counts.append(raw.count(_LINK.encode()) if message.link else 1)
    usable = usable and counts == [1, 1, 1] and _TO.encode() in head
    cache[key] = template = (
        _MailTemplate(connection.prep_address(settings.DEFAULT_FROM_EMAIL), raw, now)
        if usable
        else None
    )
    return template


class TwilioSender:
    """Twilio Programmable Messaging: POST /2010-04-01/Accounts/{sid}/Messages.json."""

    def __init__(self, session: requests.Session | None = None) -> None:
        self.session = session or _twilio_session()
        self.base_url = settings.TWILIO_API_BASE_URL.rstrip("/")

    def send(self, target: str, message: Message) -> Sent:
        sid = settings.TWILIO_ACCOUNT_SID
        token = settings.TWILIO_AUTH_TOKEN
        sender = settings.TWILIO_FROM_NUMBER
        if not (sid and token and sender):
            raise PermanentError("SMS is not configured (TWILIO_* settings).")
        data = {"To": target, "From": sender, "Body": message.short}
        if settings.TWILIO_STATUS_CALLBACK_URL:
            data["StatusCallback"] = settings.TWILIO_STATUS_CALLBACK_URL
        try:
            response = self.session.post(
                f"{self.base_url}/Accounts/{sid}/Messages.json",
                data=data,
                auth=(sid, token),
                timeout=TIMEOUT,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise TransientError(f"Twilio: {type(exc).__name__}: {exc}") from exc
        _classify(Reply(response.status_code, response.headers, response.content), "Twilio")
        try:
            body = response.json()
        except ValueError as exc:
            raise TransientError("Twilio answered 2xx without JSON") from exc
        return Sent(provider_id=str(body.get("sid", "")))


def _slack_escape(text: str) -> str:
    """Slack's escaping of `&`, `<`, `>` in mrkdwn, so an incident title such as
    `<!channel>` or `<https://evil.example|here>` is shown, not obeyed."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackSender:
    """Slack incoming webhook: JSON with `text` and Block Kit `blocks`."""

    def send(self, target: str, message: Message) -> Sent:
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": message.subject[:150]}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _slack_escape(message.text[:2900])},
            },
        ]
        if message.facts:
            fields = [
                {"type": "mrkdwn", "text": _slack_escape(f"*{name}*\n{value}")}
                for name, value in message.facts[:10]
            ]
            blocks.append({"type": "section", "fields": fields})
        if message.link:  # Slack rejects a button without a URL (verification codes have none)
            button = {
                "type": "button",
                "text": {"type": "plain_text", "text": "Acknowledge"},
                "url": message.link,
                "style": "primary",
            }
            blocks.append({"type": "actions", "elements": [button]})
        payload = {"text": _slack_escape(message.subject), "blocks": blocks}
        _classify(_post_json(target, "Slack", payload), "Slack")
        return Sent()


class TeamsSender:
    """Microsoft Teams Workflows webhook with an Adaptive Card attachment."""

    def send(self, target: str, message: Message) -> Sent:
        body: list[dict[str, Any]] = [
            {
                "type": "TextBlock",
                "size": "Large",
                "weight": "Bolder",
                "wrap": True,
                "text": message.subject,
            },
            {"type": "TextBlock", "wrap": True, "text": message.text},
        ]
        if message.facts:
            facts = [{"title": k, "value": v} for k, v in message.facts]
            body.append({"type": "FactSet", "facts": facts})
        card: dict[str, Any] = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.5",
            "body": body,
        }
        if message.link:  # Action.OpenUrl needs a URL (verification codes have none)
            card["actions"] = [
                {"type": "Action.OpenUrl", "title": "Acknowledge", "url": message.link}
            ]
        payload = {
            "type": "message",
            "attachments": [
                {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
            ],
        }
        _classify(_post_json(target, "Teams", payload), "Teams")
        return Sent()


class WebhookSender:
    """A member's own endpoint (e.g. a pager bridge): plain JSON."""

    def send(self, target: str, message: Message) -> Sent:
        payload = {
            "subject": message.subject,
            "text": message.text,
            "facts": dict(message.facts),
            "acknowledge_url": message.link,
        }
        _classify(_post_json(target, "Webhook", payload), "Webhook")
        return Sent()


_local = threading.local()


def _pool() -> GuardedPool:
    """One guarded connection pool per thread, so a batch reuses its connections to a host."""
    return per_thread(_local, "pool", GuardedPool)


#: A kept e-mail connection idle for longer is closed and a new one opened: servers drop idle
#: SMTP sessions (RFC 5321 allows 5 minutes), and a fan-out reuses it within milliseconds.
MAIL_IDLE_SECONDS = 10.0
_MAIL_SETTINGS = (
    "EMAIL_BACKEND",
    "EMAIL_HOST",
    "EMAIL_PORT",
    "EMAIL_HOST_USER",
    "EMAIL_USE_TLS",
    "EMAIL_USE_SSL",
    "ANYMAIL",
)


@dataclass
class _KeptMail:
    key: str
    connection: BaseEmailBackend
    used: float


def _mail_connection() -> BaseEmailBackend:
    """This thread's open e-mail connection, opened on first use, after an idle spell or when
    the e-mail settings changed; Django's backend leaves a connection it did not open open."""
    key = json.dumps([getattr(settings, name, None) for name in _MAIL_SETTINGS], default=str)
    kept: _KeptMail | None = getattr(_local, "mail", None)
    now = time.monotonic()
    if kept is not None and (kept.key != key or now - kept.used > MAIL_IDLE_SECONDS):
        _drop_mail_connection()
        kept = None
    if kept is None:
        connection = get_connection()
        connection.open()
        kept = _local.mail = _KeptMail(key, connection, now)
    kept.used = now
    return kept.connection


def _drop_mail_connection() -> None:
    """Close this thread's kept e-mail connection (after an error its state is unknown)."""
    kept: _KeptMail | None = getattr(_local, "mail", None)
    _local.mail = None
    if kept is not None:
        with contextlib.suppress(Exception):  # a broken connection is discarded anyway
            kept.connection.close()


def _twilio_session() -> requests.Session:
    """One plain session per thread for Twilio's API (an operator-set URL, not a tenant's)."""
    session: requests.Session | None = getattr(_local, "twilio", None)
    if session is None:
        session = _local.twilio = requests.Session()
    return session


SENDERS: dict[str, type[EmailSender | TwilioSender | SlackSender | TeamsSender | WebhookSender]] = {
    "email": EmailSender,
    "sms": TwilioSender,
    "slack": SlackSender,
    "teams": TeamsSender,
    "webhook": WebhookSender,
}


def sender_for(channel: str) -> Sender:
    """The adapter of one channel (built per call: it holds no state of its own)."""
    return SENDERS[channel]()
