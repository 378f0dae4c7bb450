"""Personalised replies to complaint cases, closing the loop when an incident is resolved, and
the case's first-response time set by the published reply."""

from __future__ import annotations

from typing import Any

import pytest
import responses
from rest_framework.test import APIClient

from communications import services
from communications.models import Message
from incidents.services import incident_transition
from monitoring.models import Case, Mention
from organisations.events import Actor
from organisations.models import Event, Organisation
from tests.communications.conftest import BLUESKY, MASTODON
from tests.communications.helpers import (
    BASE,
    act,
    bluesky_accepts,
    deliver,
    mastodon_accepts,
    post,
)
from tests.factories import make_incident, make_source
from tests.problems import assert_problem

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("unscoped", "accounts")]
CUSTOMER_POST = "https://mastodon.social/@ana/111222333444555666"
CUSTOMER_URI = "at://did:plc:customer123/app.bsky.feed.post/3k2yihcrp6f2c"
CUSTOMER_CID = "bafyreihw3aypzwl4oyvcpbv2f2yk4ik6pxrtdy4dqsrzuvbpsdeqjzmvqi"
ROOT_URI = "at://did:plc:other456/app.bsky.feed.post/3k2yiaaaaaaaa"
ROOT_CID = "bafyreiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"


def case_on(org: Organisation, platform: str, **fields: Any) -> Case:
    source = make_source(org, kind=platform, name=f"{platform} search")
    case = Case.all_tenants.create(
        organisation=org,
        platform=platform,
        author_key=f"{platform}-ana",
        author_handle="ana@mastodon.social" if platform == "mastodon" else "ana.bsky.social",
        author_name="Ana Kowalska",
        **fields,
    )
    Mention.all_tenants.create(
        organisation=org,
        source=source,
        case=case,
        text="Where is my refund?!",
        external_id=CUSTOMER_URI if platform == "bluesky" else "111222333444555666",
        url=CUSTOMER_POST if platform == "mastodon" else "https://bsky.app/profile/ana/post/3k2",
        posted_at=case.created_at,
        language="en",
    )
    return case


def template(org: Organisation, **fields: Any) -> Any:
    fields.setdefault("name", "Refund reply")
    fields.setdefault(
        "body",
        "Hi {{ complainant_name }}, we are sorry. We will refund you today ({{ case_reference }}).",
    )
    return services.template_create(organisation=org, actor=Actor.system(), kind="reply", **fields)


def _publish(org: Organisation, message: dict[str, Any], approver: APIClient) -> Message:
    stored = Message.all_tenants.get(pk=message["id"])
    services.message_submit(message=stored, actor=Actor.system())
    assert act(approver, message, "approve").json()["status"] == "approved"
    services.message_publish(message=stored, actor=Actor.system())
    return deliver(message)


def test_reply_from_a_mastodon_case_fills_in_the_complainant_and_answers_the_case(
    org: Organisation, author: APIClient, approver: APIClient, platforms: responses.RequestsMock
) -> None:
    case = case_on(org, "mastodon")
    reply = template(org)
    response = post(
        author, f"{BASE}/messages/from-case/", {"case": str(case.pk), "template": str(reply.pk)}
    )
    assert response.status_code == 201, response.content
    message = response.json()
    assert message["kind"] == "reply"
    assert message["case_id"] == str(case.pk)
    assert message["body"].startswith("Hi Ana Kowalska, we are sorry.")
    assert f"CASE-{str(case.pk)[:8].upper()}" in message["body"]
    assert message["reply_to"] == {"mastodon": {"url": CUSTOMER_POST}}

    platforms.add(
        responses.GET,
        f"{MASTODON}/api/v2/search",
        json={
            "accounts": [],
            "hashtags": [],
            "statuses": [{"id": "113000000000000001", "url": CUSTOMER_POST}],
        },
    )
    seen = mastodon_accepts(platforms)
    assert _publish(org, message, approver).status == "published"
    assert seen[0]["in_reply_to_id"] == "113000000000000001"
    search = next(c for c in platforms.calls if "/api/v2/search" in str(c.request.url))
    assert "resolve=true" in str(search.request.url)
    case.refresh_from_db()
    assert case.status == "responded"
    assert case.first_responded_at is not None
    assert Event.all_tenants.filter(type="case.responded", subject_id=str(case.pk)).exists()


def test_bluesky_reply_looks_up_the_parent_cid_and_thread_root(
    org: Organisation, author: APIClient, approver: APIClient, platforms: responses.RequestsMock
) -> None:
    case = case_on(org, "bluesky")
    message = post(
        author,
        f"{BASE}/messages/from-case/",
        {"case": str(case.pk), "body": "Sorry Ana, we will refund you today."},
    ).json()
    assert message["reply_to"] == {"bluesky": {"uri": CUSTOMER_URI}}
    seen = bluesky_accepts(platforms)
    platforms.add(
        responses.GET,
        f"{BLUESKY}/xrpc/app.bsky.feed.getPosts",
        json={
            "posts": [
                {
                    "uri": CUSTOMER_URI,
                    "cid": CUSTOMER_CID,
                    "author": {"did": "did:plc:customer123", "handle": "ana.bsky.social"},
                    "record": {
                        "$type": "app.bsky.feed.post",
                        "text": "Where is my refund?!",
                        "createdAt": "2026-11-26T08:00:00.000Z",
                        "reply": {
                            "root": {"uri": ROOT_URI, "cid": ROOT_CID},
                            "parent": {"uri": ROOT_URI, "cid": ROOT_CID},
                        },
                    },
                    "indexedAt": "2026-11-26T08:00:01.000Z",
                }
            ]
        },
    )
    assert _publish(org, message, approver).status == "published"
    assert seen[0]["record"]["reply"] == {
        "root": {"uri": ROOT_URI, "cid": ROOT_CID},
        "parent": {"uri": CUSTOMER_URI, "cid": CUSTOMER_CID},
    }
    lookup = next(c for c in platforms.calls if "getPosts" in str(c.request.url))
    assert lookup.request.headers["Authorization"] == "Bearer eyJ.access"


def test_cases_on_platforms_we_cannot_post_to_are_refused(
    org: Organisation, author: APIClient
) -> None:
    case = case_on(org, "reddit")
    response = post(author, f"{BASE}/messages/from-case/", {"case": str(case.pk), "body": "Hi"})
    assert_problem(response, 409, "case_not_replyable")
    assert not Message.all_tenants.exists()


def test_resolving_an_incident_proposes_a_closing_reply_to_each_open_case(
    org: Organisation,
) -> None:
    incident = make_incident(org)
    cases = [
        case_on(org, "mastodon", incident=incident),
        case_on(org, "bluesky", incident=incident),
    ]
    closed = case_on(org, "mastodon", incident=incident, status="resolved")
    closed.author_key = "other"
    closed.save()
    template(
        org,
        name="Closing the loop",
        closes_the_loop=True,
        body="Hi {{ complainant_name }}, {{ incident_reference }} is resolved. Sorry again; "
        "we will keep you posted if anything changes.",
    )

    incident_transition(incident=incident, action="resolve", actor=Actor.system())

    drafts = Message.all_tenants.filter(incident=incident, kind="reply")
    assert sorted(str(m.case_id) for m in drafts) == sorted(str(c.pk) for c in cases)
    assert all(m.status == "draft" for m in drafts)
    assert all(incident.reference in m.body for m in drafts)
    assert {tuple(m.channels) for m in drafts} == {("mastodon",), ("bluesky",)}

    incident_transition(incident=incident, action="reopen", actor=Actor.system())
    incident_transition(incident=incident, action="resolve", actor=Actor.system())
    assert Message.all_tenants.filter(incident=incident, kind="reply").count() == 2


def test_without_a_closing_template_resolution_drafts_nothing(org: Organisation) -> None:
    incident = make_incident(org)
    case_on(org, "mastodon", incident=incident)
    incident_transition(incident=incident, action="resolve", actor=Actor.system())
    assert not Message.all_tenants.exists()
