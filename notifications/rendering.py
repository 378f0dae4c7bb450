"""Notification text from templates, per event type, then shaped per channel (subject and body
for e-mail and chat, a short line for SMS, facts for cards). Templates are Django templates
rendered without autoescaping (the output is plain text; chat adapters escape as they need)."""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from typing import Any

from django.conf import settings
from django.core import signing
from django.template import Context, Engine, Template

from incidents.models import Incident
from notifications.channels import Message
from organisations.models import Event

ACK_SALT = "notifications.ack"
ENGINE = Engine(autoescape=False)

TEMPLATES: dict[str, tuple[str, str]] = {
    "incident.declared": (
        "{{ drill }}{{ ref }} {{ severity }}: {{ title }}",
        "A {{ severity }} incident was declared ({{ payload.status }}): {{ title }}.",
    ),
    "incident.status_changed": (
        "{{ drill }}{{ ref }} is {{ payload.to }}: {{ title }}",
        "{{ ref }} moved from {{ payload.from }} to {{ payload.to }}."
        "{% if payload.reason %} Reason: {{ payload.reason }}{% endif %}",
    ),
    "incident.severity_changed": (
        "{{ drill }}{{ ref }} now {{ payload.to.name }}: {{ title }}",
        "Severity changed from {{ payload.from.name }} to {{ payload.to.name }}.",
    ),
    "incident.role_assigned": (
        "{{ drill }}{{ ref }}: you are {{ payload.role }}",
        "You were made {{ payload.role }} of {{ ref }} — {{ title }}.",
    ),
    "incident.public_update_overdue": (
        "{{ drill }}{{ ref }}: public update overdue",
        "The next public update of {{ ref }} was due at {{ payload.due_at }}. Publish one now.",
    ),
    "task.overdue": (
        "{{ drill }}{{ ref }}: task overdue — {{ payload.task.title }}",
        "The task “{{ payload.task.title }}” was due at {{ payload.task.due_at }}.",
    ),
    "task.completed": (
        "{{ drill }}{{ ref }}: task done — {{ payload.task.title }}",
        "“{{ payload.task.title }}” is done.",
    ),
    "playbook_run.notification_requested": (
        "{{ drill }}{{ ref }}: {{ payload.step.title }}",
        "{{ payload.message }}",
    ),
    "signal.created": (
        "Signal: {{ payload.rule.name }}",
        "{{ payload.rule.name }} fired: {{ payload.observed }} observed"
        "{% if payload.baseline is not None %} against a baseline of {{ payload.baseline }}"
        "{% endif %} ({{ payload.metric }}). Triage it in the signals list.",
    ),
    "signal.escalated": (
        "{{ ref }} declared from signal {{ payload.rule.name }}",
        "The signal “{{ payload.rule.name }}” was escalated to {{ ref }}: {{ title }}.",
    ),
}
SMS_LIMIT = 320


def ack_link(notification_id: Any) -> str:
    """A signed one-click link acknowledging this notification (no login needed)."""
    token = signing.dumps({"n": str(notification_id)}, salt=ACK_SALT, compress=True)
    return f"{settings.PUBLIC_BASE_URL}/api/v1/ack/{token}/"


def read_ack_link(token: str, *, max_age_seconds: int = 7 * 24 * 3600) -> str:
    """The notification id in a link; raises signing.BadSignature when forged or too old."""
    data = signing.loads(token, salt=ACK_SALT, max_age=max_age_seconds)
    return str(data["n"])


@cache
def _compiled(source: str) -> Template:
    """Templates are compiled once per process, not once per notification."""
    return ENGINE.from_string(source)


def render_text(*, event: Event, incident: Incident | None) -> Message:
    """The event's text for every recipient: rendered once per event, not per notification."""
    subject_t, text_t = TEMPLATES.get(event.type, ("{{ type }}", "{{ type }}"))
    context = Context(
        {
            "type": event.type,
            "payload": event.payload,
            "ref": incident.reference if incident else "",
            "title": incident.title if incident else "",
            "severity": incident.severity.name if incident else "",
            "drill": "[DRILL] " if incident and incident.is_drill else "",
        }
    )
    facts: list[tuple[str, str]] = []
    if incident is not None:
        facts = [
            ("Incident", incident.reference),
            ("Severity", incident.severity.name),
            ("Status", incident.status),
        ]
    subject = _compiled(subject_t).render(context).strip()
    text = _compiled(text_t).render(context).strip()
    return Message(subject=subject, text=text, short=subject, link="", facts=facts)


def with_ack_link(message: Message, notification_id: Any) -> Message:
    """One recipient's copy of an event's text: its own signed acknowledgement link."""
    link = ack_link(notification_id)
    short = f"{message.subject} {link}"
    if len(short) > SMS_LIMIT:
        short = f"{message.subject[: SMS_LIMIT - len(link) - 2]}… {link}"
    return replace(message, short=short, link=link)


def render(*, event: Event, incident: Incident | None, notification_id: Any) -> Message:
    """One notification's message: the event's text plus the recipient's ack link."""
    return with_ack_link(render_text(event=event, incident=incident), notification_id)
