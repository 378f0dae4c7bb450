"""Monitoring fixtures: public names for `*.example.com` (URLs are checked when sources are
configured, as for webhooks), push sources with their secrets, and a Standard Webhooks signer."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from monitoring.models import Source
from monitoring.services import source_create
from organisations.events import Actor
from organisations.models import Organisation
from tests.notifications.conftest import _public_names

__all__ = ["_public_names"]


@pytest.fixture
def push_source(org: Organisation) -> tuple[Source, str]:
    issued = source_create(
        organisation=org, actor=Actor.system("tests"), kind=Source.Kind.PUSH, name="CRM push"
    )
    assert issued.secret is not None
    return issued.source, issued.secret


def signed_headers(secret: str, body: bytes, *, at: float | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers, as Django test-client extras."""
    msg_id = f"msg_{uuid.uuid4().hex}"
    timestamp = int(at if at is not None else time.time())
    signature = Webhook(secret).sign(
        msg_id, datetime.fromtimestamp(timestamp, tz=UTC), body.decode()
    )
    return {
        "HTTP_WEBHOOK_ID": msg_id,
        "HTTP_WEBHOOK_TIMESTAMP": str(timestamp),
        "HTTP_WEBHOOK_SIGNATURE": signature,
    }


def item(n: int, **overrides: Any) -> dict[str, Any]:
    return {
        "external_id": f"crm-{n}",
        "text": f"Complaint {n}: the Acme kettle broke and support never answered.",
        "posted_at": "2026-11-25T12:00:00Z",
        "author_handle": f"customer{n}",
        "author_followers": 10 * n,
        **overrides,
    }


@pytest.fixture
def push(client: Any) -> Callable[..., Any]:
    """`push(org, source, secret, payload)`: POST a signed batch without any other credential."""

    def send(
        organisation: Organisation,
        source: Source,
        secret: str,
        payload: Any,
        *,
        at: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        body = json.dumps(payload).encode()
        extra = headers if headers is not None else signed_headers(secret, body, at=at)
        return client.post(
            f"/api/v1/orgs/{organisation.slug}/sources/{source.pk}/ingest/",
            data=body,
            content_type="application/json",
            **extra,
        )

    return send
