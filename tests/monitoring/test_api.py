"""Sources, watch terms and the mention inbox over the API: per-kind validation, credentials
never returned, the push secret shown once, pause/resume/poll-now, inbox filters with cursor
pagination at a constant number of queries, and triage updates."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_scopes import scopes_disabled

from monitoring.models import Mention, Source
from organisations.models import Event, Organisation, Role
from tests.factories import make_membership, make_mention, make_source

pytestmark = pytest.mark.django_db


def url(org: Organisation, path: str) -> str:
    return f"/api/v1/orgs/{org.slug}/{path}"


def events(org: Organisation, type: str) -> list[Event]:
    with scopes_disabled():
        return list(Event.all_tenants.filter(organisation=org, type=type))


# --- sources ------------------------------------------------------------------------------------

VALID = [
    ("feed", {"url": "https://news.example.com/rss"}, {}),
    (
        "mastodon",
        {"instance_url": "https://mastodon.example.com", "mode": "hashtag", "value": "acme"},
        {"access_token": "mastodon-secret-token"},
    ),
    (
        "bluesky",
        {"query": "acme"},
        {"identifier": "brand-login-id", "app_password": "bsky-app-password"},
    ),
    (
        "reddit",
        {"query": "acme", "subreddit": "BuyItForLife"},
        {"client_id": "reddit-client-id", "client_secret": "reddit-secret"},
    ),
    ("x", {"query": "acme -is:retweet"}, {"bearer_token": "AAAA-secret"}),
]


@pytest.mark.parametrize(("kind", "config", "credentials"), VALID, ids=[v[0] for v in VALID])
def test_create_each_kind_never_returns_credentials(
    org: Organisation, admin: Any, kind: str, config: dict[str, Any], credentials: dict[str, str]
) -> None:
    response = admin.post(
        url(org, "sources/"),
        {"kind": kind, "name": f"{kind} watch", "config": config, "credentials": credentials},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == kind
    assert body["has_credentials"] is bool(credentials)
    assert body["secret"] is None
    assert body["health"]["state"] == "unknown"
    for value in credentials.values():
        assert value not in response.content.decode()
    detail = admin.get(url(org, f"sources/{body['id']}/")).content.decode()
    for value in credentials.values():
        assert value not in detail
    with scopes_disabled():
        source = Source.all_tenants.get(pk=body["id"])
    for value in credentials.values():
        assert value not in source.credentials_ciphertext  # encrypted at rest
    [event] = events(org, "source.created")
    assert event.payload["credentials"] == sorted(credentials)


def test_push_source_secret_is_shown_once_and_rotates(org: Organisation, admin: Any) -> None:
    created = admin.post(url(org, "sources/"), {"kind": "push", "name": "CRM"}, format="json")
    secret = created.json()["secret"]
    assert secret.startswith("whsec_")
    pk = created.json()["id"]
    detail = admin.get(url(org, f"sources/{pk}/")).json()
    assert "secret" not in detail
    assert detail["push_secret_hint"] == secret[:10]
    rotated = admin.post(url(org, f"sources/{pk}/rotate-secret/"))
    assert rotated.status_code == 200
    assert rotated.json()["secret"] != secret
    assert len(events(org, "source.secret_rotated")) == 1


@pytest.mark.parametrize(
    ("body", "attrs"),
    [
        ({"kind": "feed", "name": "f", "config": {"url": "ftp://x"}}, {"config.url"}),
        ({"kind": "feed", "name": "f", "config": {}}, {"config.url"}),
        (
            {
                "kind": "mastodon",
                "name": "m",
                "config": {
                    "instance_url": "https://mastodon.example.com",
                    "mode": "timeline",
                    "value": "x",
                },
            },
            {"config.mode"},
        ),
        ({"kind": "x", "name": "x", "config": {"query": "acme"}}, {"credentials.bearer_token"}),
        (
            {
                "kind": "x",
                "name": "x",
                "config": {"query": "acme"},
                "credentials": {"bearer_token": "b", "pin": "1"},
            },
            {"credentials.pin"},
        ),
        ({"kind": "push", "name": "p", "config": {"url": "https://x.example.com"}}, {"config.url"}),
        ({"kind": "feed", "name": "f", "config": {"url": "http://10.0.0.5/feed"}}, {"config.url"}),
    ],
    ids=["scheme", "missing", "mode", "no-token", "unknown-cred", "push-config", "private-ip"],
)
def test_invalid_config_is_a_400_naming_the_field_and_creates_nothing(
    org: Organisation, admin: Any, body: dict[str, Any], attrs: set[str]
) -> None:
    response = admin.post(url(org, "sources/"), body, format="json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert {e["attr"] for e in response.json()["errors"]} == attrs
    with scopes_disabled():
        assert not Source.all_tenants.filter(organisation=org).exists()


def test_plan_limit_on_sources(org: Organisation, admin: Any) -> None:
    Organisation.objects.filter(pk=org.pk).update(max_sources=1)
    make_source(org)
    response = admin.post(
        url(org, "sources/"),
        {"kind": "feed", "name": "f", "config": {"url": "https://news.example.com/rss"}},
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["code"] == "plan_limit_exceeded"


def test_update_revalidates_config_and_restarts_the_cursor(org: Organisation, admin: Any) -> None:
    source = make_source(org, cursor={"etag": '"x"'})
    bad = admin.patch(url(org, f"sources/{source.pk}/"), {"config": {"url": "nope"}}, format="json")
    assert bad.status_code == 400
    good = admin.patch(
        url(org, f"sources/{source.pk}/"),
        {"config": {"url": "https://other.example.com/feed"}, "poll_interval_seconds": 900},
        format="json",
    )
    assert good.status_code == 200, good.content
    source.refresh_from_db()
    assert (source.cursor, source.poll_interval_seconds) == ({}, 900)
    assert len(events(org, "source.updated")) == 1


def test_pause_resume_and_poll_now(org: Organisation, admin: Any) -> None:
    source = make_source(org, backoff_until=timezone.now() + timedelta(hours=1))
    paused = admin.post(url(org, f"sources/{source.pk}/pause/"))
    assert paused.json()["status"] == "paused"
    assert admin.post(url(org, f"sources/{source.pk}/poll-now/")).status_code == 409
    resumed = admin.post(url(org, f"sources/{source.pk}/resume/"))
    assert resumed.json()["status"] == "active"
    assert resumed.json()["health"]["backoff_until"] is None
    polled = admin.post(url(org, f"sources/{source.pk}/poll-now/"))
    assert polled.status_code == 202
    assert polled.json()["polling"] is True
    again = admin.post(url(org, f"sources/{source.pk}/poll-now/"))
    assert again.status_code == 409
    assert "already running" in again.json()["detail"]
    assert [
        len(events(org, t)) for t in ("source.paused", "source.resumed", "source.poll_requested")
    ] == [1, 1, 1]


def test_push_sources_cannot_be_polled_and_feeds_have_no_secret(
    org: Organisation, admin: Any
) -> None:
    push = make_source(org, kind="push", config={}, next_poll_at=None)
    assert admin.post(url(org, f"sources/{push.pk}/poll-now/")).status_code == 409
    feed = make_source(org)
    assert admin.post(url(org, f"sources/{feed.pk}/rotate-secret/")).status_code == 409


def test_delete_records_an_event_and_removes_mentions(org: Organisation, admin: Any) -> None:
    mention = make_mention(org)
    response = admin.delete(url(org, f"sources/{mention.source_id}/"))
    assert response.status_code == 204
    with scopes_disabled():
        assert not Mention.all_tenants.filter(pk=mention.pk).exists()
    assert len(events(org, "source.deleted")) == 1


def test_health_is_in_the_output(org: Organisation, admin: Any) -> None:
    source = make_source(
        org,
        consecutive_failures=2,
        last_error="The feed answered HTTP 503.",
        last_error_at=timezone.now(),
        backoff_until=timezone.now() + timedelta(minutes=10),
    )
    health = admin.get(url(org, f"sources/{source.pk}/")).json()["health"]
    assert health["state"] == "backing_off"
    assert health["last_error"] == "The feed answered HTTP 503."
    assert health["consecutive_failures"] == 2


# --- watch terms --------------------------------------------------------------------------------


def test_watch_terms_crud_and_uniqueness(org: Organisation, admin: Any) -> None:
    created = admin.post(
        url(org, "watch-terms/"), {"phrase": "  Acme   Boil ", "kind": "product"}, format="json"
    )
    assert created.status_code == 201, created.content
    assert created.json()["phrase"] == "Acme Boil"
    clash = admin.post(
        url(org, "watch-terms/"), {"phrase": "acme boil", "kind": "brand"}, format="json"
    )
    assert clash.status_code == 409
    pk = created.json()["id"]
    patched = admin.patch(url(org, f"watch-terms/{pk}/"), {"kind": "alarm"}, format="json")
    assert patched.json()["kind"] == "alarm"
    assert admin.get(url(org, "watch-terms/")).json()[0]["id"] == pk
    assert admin.delete(url(org, f"watch-terms/{pk}/")).status_code == 204
    assert [len(events(org, f"watch_term.{v}")) for v in ("created", "updated", "deleted")] == [
        1,
        1,
        1,
    ]


# --- the inbox ----------------------------------------------------------------------------------


@pytest.fixture
def inbox(org: Organisation) -> dict[str, Mention]:
    now = timezone.now()
    a, b = make_source(org), make_source(org)
    return {
        "angry": make_mention(
            org,
            source=a,
            text="Acme is a scam",
            sentiment=-0.8,
            sentiment_label="negative",
            toxicity=0.7,
            language="en",
            posted_at=now - timedelta(minutes=1),
        ),
        "calm": make_mention(
            org,
            source=a,
            text="Acme kettle arrived",
            sentiment=0.1,
            language="en",
            posted_at=now - timedelta(hours=2),
        ),
        "polish": make_mention(
            org,
            source=b,
            text="Czajnik Acme jest zły",
            sentiment=-0.5,
            sentiment_label="negative",
            language="pl",
            flagged=True,
            posted_at=now - timedelta(days=2),
        ),
        "happy": make_mention(
            org,
            source=b,
            text="Love my kettle",
            sentiment=0.9,
            sentiment_label="positive",
            language="en",
            status="reviewed",
            posted_at=now - timedelta(days=3),
        ),
    }


def ids(response: Any) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_inbox_lists_newest_first_without_a_count(
    org: Organisation, admin: Any, inbox: dict[str, Mention]
) -> None:
    body = admin.get(url(org, "mentions/")).json()
    assert [row["id"] for row in body["results"]] == [
        str(inbox[k].pk) for k in ("angry", "calm", "polish", "happy")
    ]
    assert "count" not in body
    assert body["results"][0]["source"]["name"]
    assert "explanation" not in body["results"][0]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sentiment_max=-0.4", {"angry", "polish"}),
        ("sentiment_min=0&sentiment_max=0.5", {"calm"}),
        ("sentiment_label=negative&sentiment_label=positive", {"angry", "polish", "happy"}),
        ("toxicity_min=0.5", {"angry"}),
        ("language=pl", {"polish"}),
        ("flagged=true", {"polish"}),
        ("status=reviewed", {"happy"}),
        ("q=ACME", {"angry", "calm", "polish"}),
    ],
)
def test_inbox_filters(
    org: Organisation, admin: Any, inbox: dict[str, Mention], query: str, expected: set[str]
) -> None:
    assert ids(admin.get(url(org, f"mentions/?{query}"))) == {str(inbox[k].pk) for k in expected}


def test_inbox_filters_by_source_and_time(
    org: Organisation, admin: Any, inbox: dict[str, Mention]
) -> None:
    source = inbox["polish"].source_id
    assert ids(admin.get(url(org, f"mentions/?source={source}"))) == {
        str(inbox["polish"].pk),
        str(inbox["happy"].pk),
    }
    since = (timezone.now() - timedelta(hours=3)).isoformat().replace("+00:00", "Z")
    assert ids(admin.get(url(org, "mentions/"), {"posted_after": since})) == {
        str(inbox["angry"].pk),
        str(inbox["calm"].pk),
    }


def test_inbox_filter_on_another_tenants_source_is_a_404(
    org: Organisation, other_org: Organisation, admin: Any
) -> None:
    foreign = make_source(other_org)
    assert admin.get(url(org, f"mentions/?source={foreign.pk}")).status_code == 404


def test_inbox_bad_filter_values_are_400(org: Organisation, admin: Any) -> None:
    for query in ("sentiment_min=abc", "posted_after=yesterday", "status=open", "limit=500"):
        response = admin.get(url(org, f"mentions/?{query}"))
        assert response.status_code == 400, query
        assert response["Content-Type"] == "application/problem+json"


def test_inbox_pages_with_a_cursor(org: Organisation, admin: Any) -> None:
    source = make_source(org)
    now = timezone.now()
    for n in range(7):
        make_mention(org, source=source, posted_at=now - timedelta(minutes=n))
    seen: list[str] = []
    link = url(org, "mentions/?limit=3")
    while link:
        body = admin.get(link).json()
        seen += [row["id"] for row in body["results"]]
        link = body["next"]
    assert len(seen) == len(set(seen)) == 7


def test_inbox_queries_are_constant_in_the_page_size(org: Organisation, admin: Any) -> None:
    source = make_source(org)
    member = make_membership(org, Role.RESPONDER)
    for n in range(30):
        make_mention(
            org,
            source=source if n % 2 else make_source(org),
            assignee=member.user if n % 3 else None,
        )
    admin.get(url(org, "mentions/?limit=1"))  # first use of the token touches it once
    counts = []
    for limit in (2, 30):
        with CaptureQueriesContext(connection) as queries:
            response = admin.get(url(org, f"mentions/?limit={limit}&sentiment_min=-1"))
        assert len(response.json()["results"]) == limit
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_triage_updates_status_flag_and_assignee_with_an_event(
    org: Organisation, member_client: Any, inbox: dict[str, Mention]
) -> None:
    responder = member_client(org, Role.RESPONDER)
    mention = inbox["angry"]
    assignee = make_membership(org, Role.RESPONDER).user
    response = responder.patch(
        url(org, f"mentions/{mention.pk}/"),
        {"status": "reviewed", "flagged": True, "assignee": str(assignee.pk)},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["flagged"], body["assignee"]) == (
        "reviewed",
        True,
        str(assignee.pk),
    )
    assert "explanation" in body
    [event] = events(org, "mention.updated")
    assert set(event.payload["changes"]) == {"status", "flagged", "assignee"}


def test_triage_refuses_a_non_member_assignee_and_unknown_fields(
    org: Organisation, other_org: Organisation, admin: Any, inbox: dict[str, Mention]
) -> None:
    stranger = make_membership(other_org).user
    target = url(org, f"mentions/{inbox['angry'].pk}/")
    assert admin.patch(target, {"assignee": str(stranger.pk)}, format="json").status_code == 404
    assert admin.patch(target, {"text": "rewritten"}, format="json").status_code == 400
    assert events(org, "mention.updated") == []
