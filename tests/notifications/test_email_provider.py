"""E-mail through a django-anymail provider keeps the provider's message id."""

from typing import Any

from notifications.channels import EmailSender, Message


def test_anymail_message_id_is_recorded(settings: Any) -> None:
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    settings.ANYMAIL = {}
    message = Message(subject="INC-1 SEV1", text="Declared.", short="x", link="https://a/ack/")
    sent = EmailSender().send("responder@example.test", message)
    assert sent.provider_id
    assert sent.delivered is False
