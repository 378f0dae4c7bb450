from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from notifications.relay import schedule_relay
        from organisations.events import event_subscribe

        event_subscribe("*", schedule_relay)

        from anymail.signals import tracking

        from notifications.receipts import anymail_receipt

        tracking.connect(anymail_receipt, dispatch_uid="notifications.anymail_receipt")

        # The audit task and the /metrics state sources register themselves on import.
        from notifications import audit, metrics  # noqa: F401
