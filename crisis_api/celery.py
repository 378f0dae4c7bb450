"""The Celery app: configuration from Django settings (CELERY_*), tasks discovered per app."""

import os

from celery import Celery
from django.conf import settings
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crisis_api.settings")

app = Celery("crisis_api")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name, routing_key=name) for name in settings.CELERY_QUEUE_NAMES]
app.conf.task_routes = {
    "monitoring.*": {"queue": "ingest"},
    "detection.*": {"queue": "detect"},
    "notifications.*": {"queue": "notify"},
    "webhooks.*": {"queue": "webhooks"},
}
app.autodiscover_tasks()

# Context propagation into tasks and task-outcome metrics (signal handlers).
import crisis_api.ops.celery_signals  # noqa: E402, F401
