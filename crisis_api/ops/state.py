"""Broker state for /metrics: messages waiting per Celery queue."""

from __future__ import annotations

from collections.abc import Iterator

from django.conf import settings
from kombu.exceptions import ChannelError
from prometheus_client.core import GaugeMetricFamily, Metric

from crisis_api.celery import app as celery_app
from crisis_api.ops.metrics import metrics_state_register


@metrics_state_register
def queue_depths() -> Iterator[Metric]:
    depth = GaugeMetricFamily(
        "crisis_celery_queue_depth",
        "Messages waiting in each Celery queue (not yet taken by a worker).",
        labels=("queue",),
    )
    with celery_app.connection_for_read() as connection:
        connection.ensure_connection(max_retries=1, timeout=2)
        channel = connection.default_channel
        for name in settings.CELERY_QUEUE_NAMES:
            # A passive declare asks the broker for the count without creating anything.
            try:
                declared = channel.queue_declare(name, passive=True)  # type: ignore[attr-defined]
            except ChannelError:  # never declared on this broker yet: nothing waits in it
                depth.add_metric([name], 0)
            else:
                depth.add_metric([name], declared.message_count)
    yield depth
