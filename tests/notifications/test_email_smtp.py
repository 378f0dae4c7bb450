"""E-mail over Django's SMTP backend to a local relay: each recipient's copy of one text is the
message built once with the recipient, the acknowledgement link and the Message-ID filled in.
What arrives must be what Django would have built for that recipient (headers and body), and
whatever the substitution cannot handle safely is built per message as before."""

from __future__ import annotations

import email
import email.policy
import threading
from email.message import EmailMessage
from typing import Any

import pytest
from django.core.mail import EmailMultiAlternatives

from notifications import channels
from notifications.channels import EmailSender, Message, PermanentError, TransientError
from tests.notifications.stub import SmtpSink

MESSAGE = Message(
    subject="INC-7 SEV1 Krytyczny: awaria płatności — zażółć gęślą jaźń",
    text="Incydent INC-7 ogłoszony (active).\nWłaściciel: Łucja Żak\nSeverity: SEV1",
    short="INC-7 SEV1",
    link="https://app.crisis.example.com/ack/eyJuIjoiMSJ9:1vXyZ:abc-DEF_123/",
)


def _parsed(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.SMTP)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _body(message: EmailMessage) -> str:
    return str(message.get_content()).replace("\r\n", "\n")


def _builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = EmailMultiAlternatives.message

    def counted(self: EmailMultiAlternatives, **kwargs: Any) -> Any:
        calls.append(1)
        return real(self, **kwargs)

    monkeypatch.setattr(EmailMultiAlternatives, "message", counted)
    return calls


def test_each_recipient_gets_its_own_copy_of_one_build(
    smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds = _builds(monkeypatch)
    links = [f"https://app.crisis.example.com/ack/token-{n}/" for n in range(3)]
    for n, link in enumerate(links):
        EmailSender().send(f"r{n}@example.com", Message(**{**MESSAGE.__dict__, "link": link}))

    assert len(builds) == 1
    assert smtp_sink.connections == 1
    assert [m.recipients for m in smtp_sink.mails] == [[f"r{n}@example.com"] for n in range(3)]
    parsed = [_parsed(m.data) for m in smtp_sink.mails]
    assert [p["To"] for p in parsed] == [f"r{n}@example.com" for n in range(3)]
    assert len({p["Message-ID"] for p in parsed}) == 3
    for message, link in zip(parsed, links, strict=True):
        assert message["Subject"] == MESSAGE.subject
        assert _body(message) == f"{MESSAGE.text}\n\nAcknowledge: {link}\n"
        assert "placeholder" not in message.as_string()


def test_the_copy_matches_what_django_builds(smtp_sink: SmtpSink) -> None:
    EmailSender().send("ann@example.com", MESSAGE)
    ours = _parsed(smtp_sink.mails[0].data)
    django = EmailMultiAlternatives(
        subject=MESSAGE.subject,
        body=f"{MESSAGE.text}\n\nAcknowledge: {MESSAGE.link}\n",
        from_email="crisis-api@localhost",
        to=["ann@example.com"],
    ).message(policy=email.policy.SMTP)

    def shape(message: Any) -> set[tuple[str, str]]:
        differ = ("Date", "Message-ID", "From", "Content-Transfer-Encoding")
        return {(k, str(v)) for k, v in message.items() if k not in differ}

    assert shape(ours) == shape(django)
    # Django picks quoted-printable for the link's long line; the copy leaves the text as it is
    assert (django["Content-Transfer-Encoding"], ours["Content-Transfer-Encoding"]) == (
        "quoted-printable",
        "8bit",
    )
    assert f"Acknowledge: {MESSAGE.link}\r\n".encode() in smtp_sink.mails[0].data
    assert _body(ours) == _body(django)
    assert ours["Message-ID"].endswith(">")
    assert ours["Date"]


def test_messages_without_a_link_have_no_acknowledge_line(smtp_sink: SmtpSink) -> None:
    EmailSender().send("ann@example.com", Message(subject="Code", text="123456", short="", link=""))
    assert _body(_parsed(smtp_sink.mails[0].data)) == "123456\n"


@pytest.mark.parametrize(
    ("target", "text", "envelope"),
    [
        # lines beyond SMTP's limit: the body is encoded, so nothing is substituted in it
        ("ann@example.com", "x" * 1200, "ann@example.com"),
        ("ann@example.com", "ż" * 400, "ann@example.com"),
        # an international domain: Django's own IDNA handling
        ("ann@bücher.example.com", "plain", "ann@xn--bcher-kva.example.com"),
    ],
)
def test_what_cannot_be_substituted_is_built_per_message(
    smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch, target: str, text: str, envelope: str
) -> None:
    builds = _builds(monkeypatch)
    message = Message(subject="Subject", text=text, short="", link=MESSAGE.link)
    EmailSender().send(target, message)
    EmailSender().send(target, message)

    assert [m.recipients for m in smtp_sink.mails] == [[envelope], [envelope]]
    assert _body(_parsed(smtp_sink.mails[1].data)) == f"{text}\n\nAcknowledge: {MESSAGE.link}\n"
    assert len(builds) >= 2


def test_a_built_message_is_rebuilt_after_a_while(
    smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds = _builds(monkeypatch)
    EmailSender().send("r0@example.com", MESSAGE)
    for template in channels._local.templates.values():
        template.built -= channels.MAIL_TEMPLATE_SECONDS + 1
    EmailSender().send("r1@example.com", MESSAGE)
    assert len(builds) == 2


def test_each_thread_builds_its_own(smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> None:
    builds = _builds(monkeypatch)
    errors: list[BaseException] = []

    def send(n: int) -> None:
        try:
            EmailSender().send(f"t{n}@example.com", MESSAGE)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            channels._drop_mail_connection()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(builds) == 4
    assert sorted(m.recipients[0] for m in smtp_sink.mails) == [
        f"t{n}@example.com" for n in range(4)
    ]


def test_relay_answers_are_classified(smtp_sink: SmtpSink) -> None:
    with pytest.raises(PermanentError, match=r"refused-ann@example\.com"):
        EmailSender().send("refused-ann@example.com", MESSAGE)
    smtp_sink.data_reply = "451 try again later"
    with pytest.raises(TransientError, match="451"):
        EmailSender().send("bob@example.com", MESSAGE)
    smtp_sink.data_reply = "554 rejected as spam"
    with pytest.raises(PermanentError, match="554"):
        EmailSender().send("bob@example.com", MESSAGE)
    smtp_sink.data_reply = "250 queued"
    EmailSender().send("bob@example.com", MESSAGE)
    assert [m.recipients for m in smtp_sink.mails] == [["bob@example.com"]]
    assert smtp_sink.connections == 3  # each 4xx/5xx reply dropped the kept connection
