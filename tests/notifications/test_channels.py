"""Channel adapters at the HTTP layer: Twilio's Messages API (mocked with `responses` in the
shapes Twilio documents), Slack Block Kit and Teams Adaptive Cards received by a local stub,
plain webhooks, e-mail; how each provider answer is classified; and the rendered message.

The Twilio helpers here (`twilio`, `twilio_accepts`, `twilio_error`) are shared with the
delivery and contact-method tests."""

from __future__ import annotations

import base64
import json
import smtplib
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
import responses
from django.core import mail, signing

from notifications.channels import (
    EmailSender,
    Message,
    PermanentError,
    SlackSender,
    TeamsSender,
    TransientError,
    TwilioSender,
    WebhookSender,
)
from notifications.rendering import SMS_LIMIT, ack_link, read_ack_link, render
from organisations.models import Event, Organisation
from tests.factories import make_incident, severity_of
from tests.notifications.stub import Receiver

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-auth-token-for-tests"
FROM_NUMBER = "+15005550006"
STATUS_CALLBACK = "https://api.crisis.example.com/api/v1/hooks/twilio/status/"
MESSAGES_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"


@pytest.fixture(autouse=True)
def _channels(settings: Any) -> None:
    settings.SSRF_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def twilio(settings: Any) -> Iterator[responses.RequestsMock]:
    """Twilio configured, and its API mocked at the HTTP layer (the local stub passes through)."""
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_FROM_NUMBER = FROM_NUMBER
    settings.TWILIO_STATUS_CALLBACK_URL = STATUS_CALLBACK
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru("http://127.0.0.1")
        yield mock


def twilio_message(form: dict[str, str], sid: str) -> dict[str, Any]:
    """The 201 body of Twilio's Create a Message, as its API reference shows it."""
    return {
        "account_sid": ACCOUNT_SID,
        "api_version": "2010-04-01",
        "body": form["Body"],
        "date_created": "Thu, 24 Aug 2023 05:01:45 +0000",
        "date_sent": None,
        "date_updated": "Thu, 24 Aug 2023 05:01:45 +0000",
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": form["From"],
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": "queued",
        "subresource_uris": {
            "media": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}/Media.json"
        },
        "to": form["To"],
        "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
    }


def form_of(request: Any) -> dict[str, str]:
    body = request.body.decode() if isinstance(request.body, bytes) else request.body
    return {key: values[0] for key, values in parse_qs(body).items()}


def twilio_accepts(mock: responses.RequestsMock) -> list[dict[str, str]]:
    """Answer every message with 201 queued and a fresh SM sid; returns the forms received."""
    received: list[dict[str, str]] = []

    def created(request: Any) -> tuple[int, dict[str, str], str]:
        form = form_of(request)
        form["sid"] = "SM" + uuid.uuid4().hex
        received.append(form)
        return 201, {}, json.dumps(twilio_message(form, form["sid"]))

    mock.add_callback(
        responses.POST, MESSAGES_URL, callback=created, content_type="application/json"
    )
    return received


def twilio_error(
    mock: responses.RequestsMock,
    status: int,
    code: int,
    message: str,
    headers: dict[str, str] | None = None,
) -> None:
    """Twilio's documented error body: code, message, more_info, status."""
    mock.add(
        responses.POST,
        MESSAGES_URL,
        status=status,
        headers=headers,
        json={
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )


MESSAGE = Message(
    subject="INC-7 SEV1 Critical: Recall rumour",
    text="A SEV1 Critical incident was declared (active): Recall rumour.",
    short="INC-7 SEV1 Critical: Recall rumour https://crisis.example.com/api/v1/ack/t/",
    link="https://crisis.example.com/api/v1/ack/t/",
    facts=[("Incident", "INC-7"), ("Severity", "SEV1 Critical"), ("Status", "active")],
)


# --- Twilio -------------------------------------------------------------------------------------


def test_twilio_sends_a_form_with_basic_auth_and_returns_the_message_sid(
    twilio: responses.RequestsMock,
) -> None:
    received = twilio_accepts(twilio)
    sent = TwilioSender().send("+48600100200", MESSAGE)
    [form] = received
    assert sent.provider_id == form["sid"]
    assert sent.provider_id.startswith("SM")
    assert sent.delivered is False  # queued: the status callback says when it is delivered
    assert {k: form[k] for k in ("To", "From", "Body", "StatusCallback")} == {
        "To": "+48600100200",
        "From": FROM_NUMBER,
        "Body": MESSAGE.short,
        "StatusCallback": STATUS_CALLBACK,
    }
    call = twilio.calls[0]
    assert call.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    credentials = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert call.request.headers["Authorization"] == f"Basic {credentials}"


@pytest.mark.parametrize(
    ("status", "code", "text"),
    [
        (400, 21211, "The 'To' number +4860 is not a valid phone number."),
        (400, 21610, "Attempt to send to unsubscribed recipient"),
        (401, 20003, "Authenticate"),
    ],
)
def test_twilio_client_errors_are_permanent(
    twilio: responses.RequestsMock, status: int, code: int, text: str
) -> None:
    twilio_error(twilio, status, code, text)
    with pytest.raises(PermanentError) as failure:
        TwilioSender().send("+4860", MESSAGE)
    assert str(code) in str(failure.value)


def test_twilio_rate_limits_and_outages_are_transient(twilio: responses.RequestsMock) -> None:
    twilio_error(twilio, 429, 20429, "Too Many Requests", headers={"Retry-After": "120"})
    with pytest.raises(TransientError) as limited:
        TwilioSender().send("+48600100200", MESSAGE)
    assert limited.value.retry_after is not None
    assert limited.value.retry_after.total_seconds() == 120
    twilio.replace(responses.POST, MESSAGES_URL, status=503, body="upstream unavailable")
    with pytest.raises(TransientError) as outage:
        TwilioSender().send("+48600100200", MESSAGE)
    assert outage.value.retry_after is None
    twilio.replace(responses.POST, MESSAGES_URL, body=requests.ConnectionError("reset"))
    with pytest.raises(TransientError):
        TwilioSender().send("+48600100200", MESSAGE)


def test_sms_without_twilio_settings_is_a_permanent_failure(settings: Any) -> None:
    settings.TWILIO_ACCOUNT_SID = ""
    with responses.RequestsMock() as mock, pytest.raises(PermanentError):
        TwilioSender().send("+48600100200", MESSAGE)
    assert len(mock.calls) == 0


# --- Slack, Teams, webhooks ---------------------------------------------------------------------


def test_slack_receives_block_kit(receiver: Receiver) -> None:
    assert SlackSender().send(receiver.url, MESSAGE).provider_id == ""
    [received] = receiver.received
    assert received.headers["content-type"] == "application/json"
    payload = json.loads(received.body)
    assert payload["text"] == MESSAGE.subject  # the fallback for notifications
    header, section, facts, actions = payload["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": MESSAGE.subject}}
    assert section == {"type": "section", "text": {"type": "mrkdwn", "text": MESSAGE.text}}
    assert facts["type"] == "section"
    assert facts["fields"][0] == {"type": "mrkdwn", "text": "*Incident*\nINC-7"}
    assert actions["type"] == "actions"
    [button] = actions["elements"]
    assert button["type"] == "button"
    assert button["text"] == {"type": "plain_text", "text": "Acknowledge"}
    assert button["url"] == MESSAGE.link


def test_slack_limits_are_respected_and_mentions_are_escaped(receiver: Receiver) -> None:
    message = Message(
        subject="S" * 400,
        text="Hello <!channel> & <https://evil.example|click here> " + "x" * 5000,
        short="",
        link="",  # e.g. a verification code: no button at all, since Slack needs its URL
        facts=[(f"k{i}", "v") for i in range(15)],
    )
    SlackSender().send(receiver.url, message)
    payload = json.loads(receiver.received[0].body)
    header, section, facts = payload["blocks"]
    assert len(header["text"]["text"]) == 150
    assert len(section["text"]["text"]) <= 3000
    assert len(facts["fields"]) == 10
    assert "<!channel>" not in json.dumps(payload)
    assert section["text"]["text"].startswith(
        "Hello &lt;!channel&gt; &amp; &lt;https://evil.example|click here&gt;"
    )


def test_teams_receives_an_adaptive_card_attachment(receiver: Receiver) -> None:
    TeamsSender().send(receiver.url, MESSAGE)
    payload = json.loads(receiver.received[0].body)
    assert payload["type"] == "message"
    [attachment] = payload["attachments"]
    assert attachment["contentType"] == ADAPTIVE_CARD
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card["version"] == "1.5"
    title, text, facts = card["body"]
    assert (title["type"], title["text"], title["weight"]) == (
        "TextBlock",
        MESSAGE.subject,
        "Bolder",
    )
    assert (text["type"], text["text"]) == ("TextBlock", MESSAGE.text)
    assert facts == {
        "type": "FactSet",
        "facts": [{"title": k, "value": v} for k, v in MESSAGE.facts],
    }
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Acknowledge", "url": MESSAGE.link}
    ]


def test_teams_card_without_a_link_has_no_action(receiver: Receiver) -> None:
    TeamsSender().send(receiver.url, Message(subject="Code", text="123456", short="", link=""))
    card = json.loads(receiver.received[0].body)["attachments"][0]["content"]
    assert "actions" not in card
    assert [block["type"] for block in card["body"]] == ["TextBlock", "TextBlock"]


def test_webhooks_receive_plain_json(receiver: Receiver) -> None:
    WebhookSender().send(receiver.url, MESSAGE)
    assert json.loads(receiver.received[0].body) == {
        "subject": MESSAGE.subject,
        "text": MESSAGE.text,
        "facts": {"Incident": "INC-7", "Severity": "SEV1 Critical", "Status": "active"},
        "acknowledge_url": MESSAGE.link,
    }


@pytest.mark.parametrize("sender", [SlackSender, TeamsSender, WebhookSender])
def test_chat_answers_are_classified(receiver: Receiver, sender: Any) -> None:
    receiver.answer(429, {"Retry-After": "30"}, b"rate_limited")
    receiver.answer(500, body=b"oops")
    receiver.answer(400, body=b"invalid_blocks")
    receiver.answer(404, body=b"no_service")
    receiver.answer(302, {"Location": "http://10.0.0.1/"})
    with pytest.raises(TransientError) as limited:
        sender().send(receiver.url, MESSAGE)
    assert limited.value.retry_after is not None
    assert limited.value.retry_after.total_seconds() == 30
    with pytest.raises(TransientError):
        sender().send(receiver.url, MESSAGE)
    for _ in range(3):  # bad payload, revoked webhook, redirect (never followed)
        with pytest.raises(PermanentError):
            sender().send(receiver.url, MESSAGE)
    assert len(receiver.received) == 5
    receiver.answer(202)  # what Teams Workflows answer: accepted is success
    assert sender().send(receiver.url, MESSAGE).provider_id == ""


def test_private_addresses_are_refused_at_send_time(receiver: Receiver, settings: Any) -> None:
    settings.SSRF_ALLOWED_NETWORKS = []
    for sender in (SlackSender(), TeamsSender(), WebhookSender()):
        with pytest.raises(TransientError, match="SSRF"):
            sender.send(receiver.url, MESSAGE)
    assert receiver.received == []


# --- e-mail -------------------------------------------------------------------------------------


def test_email_goes_through_the_django_backend() -> None:
    EmailSender().send("ann@example.com", MESSAGE)
    [sent] = mail.outbox
    assert sent.to == ["ann@example.com"]
    assert sent.subject == MESSAGE.subject
    assert MESSAGE.text in sent.body
    assert f"Acknowledge: {MESSAGE.link}" in sent.body


def test_email_without_a_link_has_no_acknowledge_line() -> None:
    EmailSender().send("ann@example.com", Message(subject="Code", text="123456", short="", link=""))
    assert "Acknowledge" not in mail.outbox[0].body


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (
            smtplib.SMTPRecipientsRefused({"ann@example.com": (550, b"no such user")}),
            PermanentError,
        ),
        (smtplib.SMTPDataError(554, b"rejected as spam"), PermanentError),
        (smtplib.SMTPDataError(451, b"try again later"), TransientError),
        (smtplib.SMTPServerDisconnected("gone"), TransientError),
        (TimeoutError(), TransientError),
    ],
)
def test_smtp_errors_are_classified(
    monkeypatch: pytest.MonkeyPatch, error: Exception, kind: type[Exception]
) -> None:
    def fail(*args: Any, **kwargs: Any) -> int:
        raise error

    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", fail)
    with pytest.raises(kind):
        EmailSender().send("ann@example.com", MESSAGE)


# --- rendering ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_rendered_messages_name_the_incident_and_carry_a_signed_link(org: Organisation) -> None:
    incident = make_incident(org, severity=severity_of(org, 1), title="Recall rumour " * 14)
    event = Event.all_tenants.get(type="incident.declared")
    notification_id = uuid.uuid4()
    message = render(event=event, incident=incident, notification_id=notification_id)
    assert message.subject.startswith(f"{incident.reference} SEV1 Critical: Recall rumour")
    assert "was declared (active)" in message.text
    assert ("Severity", "SEV1 Critical") in message.facts
    assert len(message.short) <= SMS_LIMIT
    assert message.short.endswith(message.link)
    assert read_ack_link(message.link.rstrip("/").rsplit("/", 1)[1]) == str(notification_id)


@pytest.mark.django_db
def test_drills_say_so(org: Organisation) -> None:
    incident = make_incident(org, is_drill=True)
    event = Event.all_tenants.get(type="incident.declared")
    message = render(event=event, incident=incident, notification_id=uuid.uuid4())
    assert message.subject.startswith("[DRILL] ")


def test_ack_links_are_signed_and_expire() -> None:
    notification_id = uuid.uuid4()
    token = ack_link(notification_id).rstrip("/").rsplit("/", 1)[1]
    assert read_ack_link(token) == str(notification_id)
    with pytest.raises(signing.BadSignature):
        read_ack_link(token[:-1] + ("A" if token[-1] != "A" else "B"))
    with pytest.raises(signing.SignatureExpired):
        read_ack_link(token, max_age_seconds=-1)
