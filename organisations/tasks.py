"""Background work of the organisations app."""

import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail

logger = logging.getLogger(__name__)


@shared_task(
    name="organisations.send_email",
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def email_send_task(*, to: str, subject: str, body: str) -> None:
    """Send one account e-mail (invitation, password reset) through the configured backend."""
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to])


def email_enqueue(*, to: str, subject: str, body: str) -> None:
    """Hand an account e-mail to the queue; a broker outage is logged, and the user can ask
    again (resend the invitation, request another reset) rather than the request failing."""
    try:
        email_send_task.delay(to=to, subject=subject, body=body)
    except Exception:
        logger.exception("could not queue an account e-mail to %s", to)
