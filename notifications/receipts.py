"""E-mail delivery receipts: django-anymail turns each provider's tracking webhook (posted to
/api/v1/hooks/anymail/<provider>/tracking/, authenticated by ANYMAIL["WEBHOOK_SECRET"]) into a
normalised event; this adapter records it on the notification, like Twilio's callbacks."""

from __future__ import annotations

from typing import Any

from notifications.delivery import provider_receipt


def anymail_receipt(sender: Any, event: Any, esp_name: str, **kwargs: Any) -> None:
    """Receiver of anymail's `tracking` signal (an interface adapter, not domain flow)."""
    message_id = getattr(event, "message_id", None)
    if message_id:
        provider_receipt(provider_message_id=str(message_id), status=str(event.event_type))
