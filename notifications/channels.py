"""Channel adapters behind one interface: `send(target, message) -> Sent`, raising
`TransientError` (retry later, maybe after Retry-After) or `PermanentError` (give up).

E-mail goes through Django's e-mail backend (any django-anymail provider by settings; the
provider's message id is kept when the backend reports one). SMS is Twilio's Messages API.
Slack (incoming webhook), Microsoft Teams (Workflows webhook with an Adaptive Card) and plain
webhooks are tenant-supplied URLs, so they go through the SSRF-guarded session.
"""

from __future__ import annotations

import contextlib
import json
import smtplib
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

import requests
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend

from crisis_api.net import UnsafeURLError, guarded_session, retry_after

TIMEOUT = (3.05, 10.0)


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


def _classify(response: requests.Response, provider: str) -> None:
    """Raise for anything but 2xx: 429/5xx transient, other 4xx (and 3xx) permanent."""
    code = response.status_code
    if 200 <= code < 300:
        return
    detail = f"{provider} answered {code}: {response.text[:200]}"
    if code == 429 or code >= 500:
        raise TransientError(detail, retry_after(response))
    raise PermanentError(detail)


def _post(session: requests.Session, url: str, provider: str, **kwargs: Any) -> requests.Response:
    try:
        return session.post(url, timeout=TIMEOUT, allow_redirects=False, **kwargs)
    except UnsafeURLError as exc:
        raise TransientError(f"{provider} URL refused by the SSRF guard: {exc}") from exc
    except requests.RequestException as exc:
        raise TransientError(f"{provider}: {type(exc).__name__}: {exc}") from exc


class EmailSender:
    """Django's e-mail backend (SMTP, or a django-anymail provider), over a connection kept
    per thread while it is busy, so a fan-out does not pay a handshake per message."""

    def send(self, target: str, message: Message) -> Sent:
        body = f"{message.text}\n"
        if message.link:  # verification codes have nothing to acknowledge
            body += f"\nAcknowledge: {message.link}\n"
        email = EmailMultiAlternatives(
            subject=message.subject,
            body=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[target],
        )
        try:
            email.connection = _mail_connection()
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
        response = _post(
            self.session,
            f"{self.base_url}/Accounts/{sid}/Messages.json",
            "Twilio",
            data=data,
            auth=(sid, token),
        )
        _classify(response, "Twilio")
        body = response.json()
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
        _classify(_post(_session(), target, "Slack", json=payload), "Slack")
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
        _classify(_post(_session(), target, "Teams", json=payload), "Teams")
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
        _classify(_post(_session(), target, "Webhook", json=payload), "Webhook")
        return Sent()


_local = threading.local()


def _session() -> requests.Session:
    """One guarded session per thread, so a batch reuses its connections to a host."""
    policy = tuple(getattr(settings, "SSRF_ALLOWED_NETWORKS", []))
    cached: tuple[tuple[str, ...], requests.Session] | None = getattr(_local, "session", None)
    if cached is None or cached[0] != policy:  # the allow-list is part of the session
        cached = _local.session = (policy, guarded_session())
    return cached[1]


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
