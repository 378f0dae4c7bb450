"""Racing approvals and publishes on one message, each from its own thread and transaction:
the row lock lets one win, and the message is published exactly once."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import responses
from rest_framework.test import APIClient

from communications.models import Publication
from crisis_api.celery import app
from organisations.models import Organisation, Role
from tests.communications.helpers import (
    MASTODON_STATUSES,
    act,
    draft,
    events,
    mastodon_accepts,
    message_url,
)
from tests.incidents.test_concurrency import authorization, race

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("accounts")]


@pytest.fixture
def eager_worker() -> Iterator[None]:
    """The publish task runs in the committing thread, as a worker would right after."""
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = False


def test_two_approvals_at_once_publish_exactly_once(
    org: Organisation,
    member_client: Callable[..., APIClient],
    eager_worker: None,
    platforms: responses.RequestsMock,
) -> None:
    author = member_client(org, Role.COMMS_LEAD)
    first, second = member_client(org, Role.APPROVER), member_client(org, Role.APPROVER)
    seen = mastodon_accepts(platforms)
    message = draft(author, channels=["mastodon"], status_label="", publish_on_approval=True)
    assert act(author, message, "submit").status_code == 200
    url = message_url(message, "approve")

    results = race([(authorization(first), url, {}), (authorization(second), url, {})])

    assert sorted(status for status, _ in results) == [200, 409]
    assert len(seen) == 1
    assert len([c for c in platforms.calls if c.request.url == MASTODON_STATUSES]) == 1
    assert len(events(message, "message.approved")) == 1
    assert len(events(message, "message.published")) == 1
    assert Publication.all_tenants.filter(message_id=message["id"]).count() == 1
    assert author.get(message_url(message)).json()["status"] == "published"


def test_two_publishes_at_once_post_once(
    org: Organisation,
    member_client: Callable[..., APIClient],
    eager_worker: None,
    platforms: responses.RequestsMock,
) -> None:
    author, approver = member_client(org, Role.COMMS_LEAD), member_client(org, Role.APPROVER)
    manager = member_client(org, Role.CRISIS_MANAGER)
    seen = mastodon_accepts(platforms)
    message = draft(author, channels=["mastodon"], status_label="")
    act(author, message, "submit")
    act(approver, message, "approve")
    url = message_url(message, "publish")

    results = race([(authorization(author), url, {}), (authorization(manager), url, {})])

    assert sorted(status for status, _ in results) == [200, 409]
    assert len(seen) == 1
    assert len(events(message, "message.published")) == 1
