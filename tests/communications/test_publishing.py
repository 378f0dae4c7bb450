"""Publishing adapters at the HTTP layer (Mastodon and Bluesky in their documented shapes):
what is sent, replies to the original post, failures with the platform's reason, retries that
never post twice, drills that never leave the building, e-mail and the public-update clock."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import requests
import responses
from django.core import mail
from django.utils import timezone

from communications import services
from communications.adapters import tid_for
from communications.models import ChannelAccount, Message, Publication
from communications.services.publishing import message_settle
from incidents.models import Incident
from organisations.events import Actor
from organisations.models import Organisation, Role
from tests.communications.helpers import (
    BSKY_CREATE,
    BSKY_GET,
    DID,
    MASTODON_STATUSES,
    bluesky_accepts,
    bluesky_session,
    deliver,
    events,
    mastodon_accepts,
)
from tests.factories import make_incident, make_membership

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("unscoped", "accounts")]

BSKY_PARENT = {
    "uri": "at://did:plc:customer123/app.bsky.feed.post/3k2yihcrp6f2c",
    "cid": "bafyreihw3aypzwl4oyvcpbv2f2yk4ik6pxrtdy4dqsrzuvbpsdeqjzmvqi",
}
BSKY_ROOT = {
    "uri": "at://did:plc:other456/app.bsky.feed.post/3k2yiaaaaaaaa",
    "cid": "bafyreiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
}


def approved(organisation: Organisation, **fields: Any) -> Message:
    """A message through submit and approval by a second member, ready to publish."""
    author = make_membership(organisation, Role.COMMS_LEAD).user
    approver = make_membership(organisation, Role.APPROVER).user
    fields.setdefault("kind", "public_statement")
    fields.setdefault("title", "Outage")
    fields.setdefault("body", "We are sorry for the outage. We will post an update by 15:00.")
    message = services.message_create(
        organisation=organisation, actor=Actor.of_user(author), **fields
    )
    services.message_submit(message=message, actor=Actor.of_user(author))
    return services.message_approve(
        message=message, actor=Actor.of_user(approver), user=approver, role=Role.APPROVER
    )


def publish(message: Message) -> Message:
    services.message_publish(message=message, actor=Actor.system("tests"))
    return deliver(message)


def test_mastodon_post_in_the_documented_shape(
    org: Organisation, platforms: responses.RequestsMock
) -> None:
    seen = mastodon_accepts(platforms)
    message = approved(
        org,
        channels=["mastodon"],
        language="en",
        renditions={"mastodon": "We are sorry. Update by 15:00 #status"},
    )
    assert publish(message).status == "published"
    [body] = seen
    assert body["status"] == "We are sorry. Update by 15:00 #status"
    assert body["visibility"] == "public"
    assert body["language"] == "en"
    assert body["_auth"] == "Bearer mastodon-token"
    publication = Publication.all_tenants.get(message=message)
    assert body["_idempotency_key"] == str(publication.pk)
    assert publication.external_url.startswith("https://mastodon.example.com/@brand/")
    [event] = events(message, "message.published")
    assert event.payload["channels"][0]["external_id"] == publication.external_id


def test_mastodon_reply_names_the_original_status(
    org: Organisation, platforms: responses.RequestsMock
) -> None:
    seen = mastodon_accepts(platforms)
    message = approved(
        org,
        kind="reply",
        channels=["mastodon"],
        reply_to={"mastodon": {"status_id": "110987654321"}},
        body="Sorry about that, Ana. We will refund the order today.",
    )
    publish(message)
    assert seen[0]["in_reply_to_id"] == "110987654321"


def test_bluesky_post_and_reply_in_the_documented_shape(
    org: Organisation, platforms: responses.RequestsMock
) -> None:
    seen = bluesky_accepts(platforms)
    message = approved(
        org,
        kind="reply",
        channels=["bluesky"],
        language="pl",
        reply_to={
            "bluesky": {**BSKY_PARENT, "root_uri": BSKY_ROOT["uri"], "root_cid": BSKY_ROOT["cid"]}
        },
        body="Przepraszamy, Pani Ano. Zwrot zlecimy dziś, damy znać.",
    )
    assert publish(message).status == "published"
    session = json.loads(platforms.calls[0].request.body)
    assert session == {"identifier": "brand.example.com", "password": "app-pass-word-1234"}
    [create] = seen
    publication = Publication.all_tenants.get(message=message)
    assert create["repo"] == DID
    assert create["collection"] == "app.bsky.feed.post"
    assert create["rkey"] == tid_for(publication)
    assert len(create["rkey"]) == 13
    record = create["record"]
    assert record["$type"] == "app.bsky.feed.post"
    assert record["langs"] == ["pl"]
    assert record["text"].startswith("Przepraszamy")
    assert record["reply"] == {"root": BSKY_ROOT, "parent": BSKY_PARENT}
    assert not [c for c in platforms.calls if "getPosts" in str(c.request.url)]  # refs were given
    assert record["createdAt"].endswith("Z")
    assert create["_auth"] == "Bearer eyJ.access"
    assert publication.external_id == f"at://{DID}/app.bsky.feed.post/{create['rkey']}"


def test_a_platform_refusal_is_recorded_with_its_reason_and_can_be_retried(
    org: Organisation, platforms: responses.RequestsMock
) -> None:
    platforms.add(
        responses.POST,
        MASTODON_STATUSES,
        status=422,
        json={"error": "Validation failed: Text character limit of 500 exceeded"},
    )
    message = approved(org, channels=["mastodon", "status_page"], status_label="identified")
    failed = publish(message)
    assert failed.status == "failed"
    assert "Text character limit of 500 exceeded" in failed.failure_reason
    [event] = events(message, "message.failed")
    assert event.payload["retryable"] is False
    channels = {c["channel"]: c["status"] for c in event.payload["channels"]}
    assert channels == {"mastodon": "failed", "status_page": "sent"}

    platforms.replace(
        responses.POST,
        MASTODON_STATUSES,
        json={"id": "1", "url": "https://mastodon.example.com/@brand/1"},
    )
    assert publish(failed).status == "published"
    assert len([c for c in platforms.calls if c.request.url == MASTODON_STATUSES]) == 2
    # The status page was sent the first time and is never sent again.
    assert Publication.all_tenants.get(message=message, channel="status_page").attempts == 1


@pytest.mark.parametrize(
    ("answer", "retryable"),
    [
        ({"status": 503, "body": "upstream unavailable"}, True),
        ({"status": 429, "json": {"error": "Too many requests"}}, True),
        ({"status": 401, "json": {"error": "The access token is invalid"}}, False),
        ({"status": 302, "headers": {"Location": "https://evil.example.com/"}}, False),
        ({"body": requests.ConnectionError("reset by peer")}, True),
    ],
)
def test_failures_say_whether_a_retry_can_help(
    org: Organisation, platforms: responses.RequestsMock, answer: dict[str, Any], retryable: bool
) -> None:
    platforms.add(responses.POST, MASTODON_STATUSES, **answer)
    message = approved(org, channels=["mastodon"])
    assert publish(message).status == "failed"
    publication = Publication.all_tenants.get(message=message)
    assert (publication.status, publication.retryable) == ("failed", retryable)
    assert publication.error


def test_transient_failures_are_retried_with_backoff_then_left_to_people(
    org: Organisation, platforms: responses.RequestsMock
) -> None:
    platforms.add(responses.POST, MASTODON_STATUSES, status=503, body="upstream unavailable")
    message = approved(org, channels=["mastodon"])
    assert publish(message).status == "failed"
    failed_at = Message.all_tenants.get(pk=message.pk).failed_at
    assert failed_at is not None
    assert services.message_retry_sweep(now=failed_at + timedelta(seconds=30)) == 0
    for attempt, pause in enumerate((1, 5, 30), start=1):
        stored = Message.all_tenants.get(pk=message.pk)
        assert stored.failed_at is not None
        assert services.message_retry_sweep(now=stored.failed_at + timedelta(minutes=pause)) == 1
        assert deliver(message).status == "failed"
        assert Publication.all_tenants.get(message=message).attempts == attempt + 1
    stored = Message.all_tenants.get(pk=message.pk)
    assert stored.failed_at is not None
    assert services.message_retry_sweep(now=stored.failed_at + timedelta(days=1)) == 0


def test_permanent_failures_are_not_retried_automatically(
    org: Organisation, platforms: responses.RequestsMock
) -> None:
    platforms.add(
        responses.POST, MASTODON_STATUSES, status=401, json={"error": "The access token is invalid"}
    )
    message = approved(org, channels=["mastodon"])
    assert publish(message).status == "failed"
    assert services.message_retry_sweep(now=timezone.now() + timedelta(hours=1)) == 0


def test_a_repeated_worker_run_never_posts_twice(
    org: Organisation, platforms: responses.RequestsMock
) -> None:
    mastodon = mastodon_accepts(platforms)
    bluesky = bluesky_accepts(platforms)
    message = approved(
        org,
        channels=["mastodon", "bluesky", "status_page"],
        status_label="monitoring",
        body="We are sorry. We will post the next update by 15:00.",
    )
    services.message_publish(message=message, actor=Actor.system("tests"))
    for _ in range(3):
        services.message_deliver(message_id=message.pk)
    assert (len(mastodon), len(bluesky)) == (1, 1)
    assert len(events(message, "message.published")) == 1
    with pytest.raises(services.MessageTransitionError):
        services.message_publish(message=message, actor=Actor.system("tests"))


def test_bluesky_retry_after_a_lost_response_finds_the_record_instead_of_posting(
    org: Organisation, platforms: responses.RequestsMock
) -> None:
    """The first createRecord succeeded on the PDS but the response was lost; the retry asks
    for the record under the same key and does not create a second post."""
    bluesky_session(platforms)
    platforms.add(responses.POST, BSKY_CREATE, body=requests.ConnectionError("read timed out"))
    message = approved(org, channels=["bluesky"])
    assert publish(message).status == "failed"
    publication = Publication.all_tenants.get(message=message)
    uri = f"at://{DID}/app.bsky.feed.post/{tid_for(publication)}"
    platforms.add(
        responses.GET,
        BSKY_GET,
        json={"uri": uri, "cid": "bafyreig2fjxi3rptqdgy", "value": {"text": "…"}},
    )
    assert publish(message).status == "published"
    creates = [c for c in platforms.calls if c.request.url == BSKY_CREATE]
    assert len(creates) == 1
    get = next(c for c in platforms.calls if str(c.request.url).startswith(BSKY_GET))
    assert f"rkey={tid_for(publication)}" in str(get.request.url)
    publication.refresh_from_db()
    assert publication.external_id == uri


def test_a_stale_claim_is_retaken_but_a_fresh_one_is_not(
    org: Organisation, platforms: responses.RequestsMock
) -> None:
    seen = mastodon_accepts(platforms)
    message = approved(org, channels=["mastodon"])
    services.message_publish(message=message, actor=Actor.system("tests"))
    Publication.all_tenants.filter(message=message).update(
        status="sending", claimed_at=timezone.now()
    )
    services.message_deliver(message_id=message.pk)
    assert seen == []  # another worker holds it
    Publication.all_tenants.filter(message=message).update(
        claimed_at=timezone.now() - timezone.timedelta(minutes=10)
    )
    assert deliver(message).status == "published"
    assert len(seen) == 1


def test_drills_never_publish_outside(org: Organisation, platforms: responses.RequestsMock) -> None:
    drill = make_incident(org, is_drill=True)
    message = approved(
        org, incident=drill, channels=["mastodon", "status_page"], status_label="investigating"
    )
    assert publish(message).status == "published"
    assert len(platforms.calls) == 0
    statuses = dict(
        Publication.all_tenants.filter(message=message).values_list("channel", "status")
    )
    assert statuses == {"mastodon": "skipped", "status_page": "sent"}


def test_no_active_account_refuses_submission(org: Organisation) -> None:
    ChannelAccount.all_tenants.filter(organisation=org).update(is_active=False)
    message = services.message_create(
        organisation=org,
        actor=Actor.system(),
        kind="public_statement",
        body="Sorry.",
        channels=["bluesky"],
    )
    with pytest.raises(Exception, match="no active bluesky account"):
        services.message_submit(message=message, actor=Actor.system())


def test_stakeholder_email_goes_out_once_in_bcc(org: Organisation) -> None:
    message = approved(
        org,
        kind="stakeholder_email",
        channels=["email"],
        title="Update for partners",
        recipients=["cfo@partner.example.com", "ops@partner.example.com"],
    )
    assert publish(message).status == "published"
    [sent] = mail.outbox
    assert sent.bcc == ["cfo@partner.example.com", "ops@partner.example.com"]
    assert sent.to == []
    assert sent.subject == "Update for partners"
    assert sent.extra_headers["Message-ID"].endswith("@crisis-api>")
    services.message_deliver(message_id=message.pk)
    assert len(mail.outbox) == 1


def test_publishing_a_statement_restarts_the_incident_update_clock(org: Organisation) -> None:
    incident = make_incident(org)
    due_before = incident.next_public_update_due_at
    message = approved(org, incident=incident, channels=["status_page"], status_label="identified")
    publish(message)
    incident = Incident.all_tenants.get(pk=incident.pk)
    assert incident.last_public_update_at is not None
    assert incident.next_public_update_due_at is not None
    assert due_before is not None
    assert incident.next_public_update_due_at > due_before
    assert incident.next_public_update_due_at == (
        incident.last_public_update_at + incident.severity.public_update_interval
    )


def test_internal_updates_do_not_touch_the_public_clock(org: Organisation) -> None:
    incident = make_incident(org)
    message = approved(org, incident=incident, kind="internal_update", channels=["webhook"])
    assert publish(message).status == "published"
    assert Incident.all_tenants.get(pk=incident.pk).last_public_update_at is None


def test_settle_leaves_a_message_alone_while_a_channel_is_in_flight(org: Organisation) -> None:
    message = approved(org, channels=["status_page", "webhook"], status_label="resolved")
    services.message_publish(message=message, actor=Actor.system("tests"))
    Publication.all_tenants.filter(message=message, channel="webhook").update(status="sending")
    assert message_settle(message_id=message.pk) == "publishing"


def test_published_message_reaches_webhook_endpoints_as_an_event(org: Organisation) -> None:
    from notifications.relay import plan_webhooks
    from notifications.webhooks import WEBHOOK_EVENT_TYPES

    assert {
        "message.submitted",
        "message.approved",
        "message.rejected",
        "message.published",
        "message.failed",
    } <= set(WEBHOOK_EVENT_TYPES)
    from tests.factories import make_webhook_endpoint

    make_webhook_endpoint(org)
    message = approved(org, channels=["webhook"])
    publish(message)
    [event] = events(message, "message.published")
    assert plan_webhooks([event]) == 1
