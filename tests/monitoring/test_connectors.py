"""Each connector against hand-written fixtures in the shapes the platforms document, replayed
at the HTTP layer: what is asked (cursor parameters, auth), what comes out (one mention shape),
and how rate limits and malformed answers become readable poll errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import responses
from responses import matchers

from crisis_api.net import guarded_session
from monitoring.connectors import (
    CONNECTORS,
    ConfigError,
    Fetched,
    PollError,
    RateLimitedError,
)

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def fetch(
    kind: str, config: dict[str, Any], cursor: dict[str, Any] | None = None, **creds: str
) -> Fetched:
    connector = CONNECTORS[kind]
    return connector.fetch(
        session=guarded_session(),
        config=connector.clean_config(config),
        credentials=creds,
        cursor=cursor or {},
    )


# --- RSS / Atom ---------------------------------------------------------------------------------

FEED = "https://news.example.com/feed.xml"


@responses.activate
def test_rss_items_become_mentions_with_plain_text_and_the_conditional_get_cursor() -> None:
    responses.get(
        FEED,
        body=fixture("rss.xml"),
        headers={"ETag": '"v1"', "Last-Modified": "Wed, 25 Nov 2026 12:15:00 GMT"},
        content_type="application/rss+xml",
    )
    fetched = fetch("feed", {"url": FEED})
    assert [m.external_id for m in fetched.mentions] == [
        "urn:news:1001",
        "urn:news:1002",
        "https://news.example.com/opinion-kettles",  # no guid: the link identifies it
    ]
    first = fetched.mentions[0]
    assert first.text.startswith("Acme kettles recalled after overheating reports")
    assert (
        "Acme Boil 2 kettle overheats & trips fuses." in first.text
    )  # tags gone, entities decoded
    assert first.posted_at == datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    assert first.url == "https://news.example.com/acme-kettle-recall"
    assert first.language == "en"
    assert fetched.cursor == {"etag": '"v1"', "last_modified": "Wed, 25 Nov 2026 12:15:00 GMT"}


@responses.activate
def test_feed_sends_etag_and_if_modified_since_and_304_keeps_the_cursor() -> None:
    cursor = {"etag": '"v1"', "last_modified": "Wed, 25 Nov 2026 12:15:00 GMT"}
    responses.get(
        FEED,
        status=304,
        match=[
            matchers.header_matcher(
                {"If-None-Match": '"v1"', "If-Modified-Since": cursor["last_modified"]}
            )
        ],
    )
    fetched = fetch("feed", {"url": FEED}, cursor)
    assert fetched.not_modified
    assert fetched.mentions == []
    assert fetched.cursor == cursor


@responses.activate
def test_atom_entries_use_content_published_time_and_feed_language() -> None:
    responses.get(FEED, body=fixture("atom.xml"), content_type="application/atom+xml")
    fetched = fetch("feed", {"url": FEED})
    assert len(fetched.mentions) == 2
    first, second = fetched.mentions
    assert first.external_id == "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a"
    assert "wyłącza bezpieczniki" in first.text
    assert first.posted_at == datetime(2026, 11, 25, 9, 58, tzinfo=UTC)
    assert first.author_name == "Kasia"
    assert first.language == "pl"
    assert second.posted_at == datetime(2026, 11, 25, 11, 0, tzinfo=UTC)  # updated, no published


@responses.activate
@pytest.mark.parametrize(
    "body",
    [b"<html><body>Not a feed</body></html>", b"\x00\x01garbage", b"<rss><channel><item>"],
)
def test_malformed_feed_is_a_readable_poll_error(body: bytes) -> None:
    responses.get(FEED, body=body, content_type="text/html")
    with pytest.raises(PollError) as caught:
        fetch("feed", {"url": FEED})
    assert "feed" in caught.value.reason.lower()


@responses.activate
def test_feed_429_with_retry_after_is_rate_limited() -> None:
    responses.get(FEED, status=429, headers={"Retry-After": "120"}, body="slow down")
    with pytest.raises(RateLimitedError) as caught:
        fetch("feed", {"url": FEED})
    assert caught.value.retry_after == timedelta(seconds=120)
    assert "429" in caught.value.reason


@responses.activate
def test_feed_5xx_and_oversized_bodies_fail_with_reasons(settings: Any) -> None:
    responses.get(FEED, status=503, body="maintenance")
    with pytest.raises(PollError, match="HTTP 503"):
        fetch("feed", {"url": FEED})


def test_feed_to_a_private_address_is_refused_before_any_request() -> None:
    with pytest.raises(PollError, match="refused"):
        fetch("feed", {"url": "http://127.0.0.1:9/feed"})


def test_feed_config_is_validated() -> None:
    with pytest.raises(ConfigError) as caught:
        CONNECTORS["feed"].clean_config({"url": "ftp://x", "extra": 1})
    assert set(caught.value.errors) == {"url", "extra"}


# --- Mastodon -----------------------------------------------------------------------------------

MASTODON = "https://mastodon.example.com"


@responses.activate
def test_mastodon_hashtag_first_poll_takes_the_newest_page_and_skips_boosts() -> None:
    responses.get(
        f"{MASTODON}/api/v1/timelines/tag/acme",
        json=json.loads(fixture("mastodon_tag.json")),
        match=[matchers.query_param_matcher({"limit": "40"})],
    )
    fetched = fetch("mastodon", {"instance_url": MASTODON, "mode": "hashtag", "value": "#acme"})
    assert [m.external_id for m in fetched.mentions] == ["113520000000000003", "113520000000000002"]
    first = fetched.mentions[0]
    assert first.text == ("My #acme kettle tripped the fuses again. Never buying Acme again!")
    assert first.author_handle == "angry"
    assert first.author_followers == 1520
    assert first.url == "https://mastodon.example.com/@angry/113520000000000003"
    assert first.language == "en"
    assert fetched.cursor == {"since_id": "113520000000000003"}


@responses.activate
def test_mastodon_with_a_cursor_pages_forward_with_min_id_and_a_token() -> None:
    responses.get(
        f"{MASTODON}/api/v1/accounts/109876/statuses",
        json=[],
        match=[
            matchers.query_param_matcher({"limit": "40", "min_id": "113520000000000003"}),
            matchers.header_matcher({"Authorization": "Bearer tok"}),
        ],
    )
    fetched = fetch(
        "mastodon",
        {"instance_url": MASTODON, "mode": "account", "value": "109876"},
        {"since_id": "113520000000000003"},
        access_token="tok",
    )
    assert fetched.mentions == []
    assert fetched.cursor == {"since_id": "113520000000000003"}


@responses.activate
def test_mastodon_search_reads_statuses_of_v2_search() -> None:
    responses.get(
        f"{MASTODON}/api/v2/search",
        json={"accounts": [], "hashtags": [], "statuses": json.loads(fixture("mastodon_tag.json"))},
    )
    fetched = fetch(
        "mastodon", {"instance_url": MASTODON, "mode": "search", "value": "acme kettle"}
    )
    assert len(fetched.mentions) == 2


@responses.activate
@pytest.mark.parametrize(
    "body", ['{"error": "not a list"}', "not json", '[{"no_id": 1}]', "[1, 2]"]
)
def test_mastodon_malformed_json_is_a_readable_poll_error(body: str) -> None:
    responses.get(f"{MASTODON}/api/v1/timelines/tag/acme", body=body)
    with pytest.raises(PollError) as caught:
        fetch("mastodon", {"instance_url": MASTODON, "mode": "hashtag", "value": "acme"})
    assert "Mastodon" in caught.value.reason


def test_mastodon_account_mode_needs_a_numeric_id() -> None:
    with pytest.raises(ConfigError):
        CONNECTORS["mastodon"].clean_config(
            {"instance_url": MASTODON, "mode": "account", "value": "@someone"}
        )


# --- Bluesky ------------------------------------------------------------------------------------

SEARCH = "https://public.api.bsky.app/xrpc/app.bsky.feed.searchPosts"


@responses.activate
def test_bluesky_search_normalises_posts_and_keeps_the_newest_indexed_at() -> None:
    responses.get(
        SEARCH,
        json=json.loads(fixture("bluesky_search.json")),
        match=[matchers.query_param_matcher({"q": "acme", "sort": "latest", "limit": "100"})],
    )
    fetched = fetch("bluesky", {"query": "acme"})
    first, second = fetched.mentions
    assert (
        first.external_id
        == "at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.feed.post/3lbxq5ykq2k2a"
    )
    assert first.url == "https://bsky.app/profile/angry.bsky.social/post/3lbxq5ykq2k2a"
    assert first.author_handle == "angry.bsky.social"
    assert first.author_id == "did:plc:z72i7hdynmk6r22z27h6tvur"
    assert first.language == "en"
    assert second.language == "pl"
    assert fetched.cursor == {"since": "2026-11-25T12:05:01.123Z"}


@responses.activate
def test_bluesky_next_poll_asks_since_and_follows_the_cursor_then_stops() -> None:
    since = "2026-11-25T12:05:01.123Z"
    page = json.loads(fixture("bluesky_search.json"))
    responses.get(
        SEARCH,
        json=page,
        match=[
            matchers.query_param_matcher(
                {"q": "acme", "sort": "latest", "limit": "100", "since": since}
            )
        ],
    )
    responses.get(
        SEARCH,
        json={"posts": []},
        match=[
            matchers.query_param_matcher(
                {"q": "acme", "sort": "latest", "limit": "100", "since": since, "cursor": "2"}
            )
        ],
    )
    fetched = fetch("bluesky", {"query": "acme"}, {"since": since})
    assert len(fetched.mentions) == 2
    assert len(responses.calls) == 2


@responses.activate
def test_bluesky_with_app_password_creates_a_session_and_uses_the_pds() -> None:
    responses.post(
        "https://bsky.social/xrpc/com.atproto.server.createSession",
        json={
            "accessJwt": "jwt-a",
            "refreshJwt": "jwt-r",
            "handle": "brand.bsky.social",
            "did": "did:plc:brand",
        },
        match=[
            matchers.json_params_matcher({"identifier": "brand.bsky.social", "password": "app-pw"})
        ],
    )
    responses.get(
        "https://bsky.social/xrpc/app.bsky.feed.searchPosts",
        json={"posts": []},
        match=[matchers.header_matcher({"Authorization": "Bearer jwt-a"})],
    )
    fetched = fetch(
        "bluesky", {"query": "acme"}, identifier="brand.bsky.social", app_password="app-pw"
    )
    assert fetched.mentions == []


@responses.activate
def test_bluesky_post_without_text_string_is_a_poll_error() -> None:
    responses.get(
        SEARCH,
        json={
            "posts": [{"uri": "at://x/app.bsky.feed.post/1", "record": {"text": 5}, "author": {}}]
        },
    )
    with pytest.raises(PollError, match="Bluesky"):
        fetch("bluesky", {"query": "acme"})


# --- Reddit -------------------------------------------------------------------------------------


@responses.activate
def test_reddit_public_search_normalises_listing_children() -> None:
    responses.get(
        "https://www.reddit.com/search.json",
        json=json.loads(fixture("reddit_search.json")),
        match=[
            matchers.query_param_matcher(
                {"q": "acme kettle", "sort": "new", "limit": "100", "raw_json": "1"}
            )
        ],
    )
    fetched = fetch("reddit", {"query": "acme kettle"})
    first, second = fetched.mentions
    assert first.external_id == "t3_1h0b2c4"
    title, body = first.text.split("\n\n")
    assert title == "Acme Boil 2 kettle overheating?"
    assert body == "Mine tripped the breaker twice this week. Anyone else?"
    assert first.url.startswith("https://www.reddit.com/r/BuyItForLife/comments/1h0b2c4/")
    assert first.author_handle == "kettle_hater"
    assert first.posted_at == datetime.fromtimestamp(1795608000, tz=UTC)
    assert second.text == "Acme czajnik - zwrot?"
    assert fetched.cursor == {"created_utc": 1795608000.0}


@responses.activate
def test_reddit_oauth_and_subreddit_with_a_cursor_stop_at_older_posts() -> None:
    responses.post(
        "https://www.reddit.com/api/v1/access_token",
        json={"access_token": "rtok", "token_type": "bearer", "expires_in": 86400, "scope": "*"},
    )
    responses.get(
        "https://oauth.reddit.com/r/BuyItForLife/search",
        json=json.loads(fixture("reddit_search.json")),
        match=[matchers.header_matcher({"Authorization": "Bearer rtok"})],
    )
    fetched = fetch(
        "reddit",
        {"query": "acme", "subreddit": "r/BuyItForLife"},
        {"created_utc": 1795606000.0},
        client_id="cid",
        client_secret="csecret",
    )
    assert [m.external_id for m in fetched.mentions] == ["t3_1h0b2c4"]  # the older one is known
    assert len(responses.calls) == 2  # token + one page: an older post ends the walk


@responses.activate
def test_reddit_429_uses_its_reset_header() -> None:
    responses.get(
        "https://www.reddit.com/search.json", status=429, headers={"x-ratelimit-reset": "42"}
    )
    with pytest.raises(RateLimitedError) as caught:
        fetch("reddit", {"query": "acme"})
    assert caught.value.retry_after == timedelta(seconds=42)


@responses.activate
def test_reddit_listing_without_children_is_a_poll_error() -> None:
    responses.get("https://www.reddit.com/search.json", json={"kind": "Listing", "data": {}})
    with pytest.raises(PollError, match="Listing"):
        fetch("reddit", {"query": "acme"})


# --- X ------------------------------------------------------------------------------------------

X_SEARCH = "https://api.x.com/2/tweets/search/recent"


@responses.activate
def test_x_recent_search_joins_authors_for_followers_and_keeps_newest_id() -> None:
    responses.get(
        X_SEARCH,
        json=json.loads(fixture("x_search.json")),
        match=[matchers.header_matcher({"Authorization": "Bearer xbearer"})],
    )
    fetched = fetch("x", {"query": "acme -is:retweet"}, bearer_token="xbearer")
    first, second = fetched.mentions
    assert first.external_id == "1861234567890123457"
    assert first.author_handle == "biginfluencer"
    assert first.author_followers == 2_500_000
    assert first.url == "https://x.com/biginfluencer/status/1861234567890123457"
    assert second.language == "pl"
    assert fetched.cursor == {"since_id": "1861234567890123457"}
    url = str(responses.calls[0].request.url)
    assert "expansions=author_id" in url
    assert "user.fields=username%2Cname%2Cpublic_metrics" in url


@responses.activate
def test_x_with_since_id_and_no_results_keeps_the_cursor() -> None:
    responses.get(
        X_SEARCH,
        json={"meta": {"result_count": 0}},
        match=[matchers.query_param_matcher({"since_id": "186"}, strict_match=False)],
    )
    fetched = fetch("x", {"query": "acme"}, {"since_id": "186"}, bearer_token="b")
    assert fetched.mentions == []
    assert fetched.cursor == {"since_id": "186"}


@responses.activate
def test_x_429_honours_x_rate_limit_reset() -> None:
    reset = int((datetime.now(tz=UTC) + timedelta(minutes=15)).timestamp())
    responses.get(
        X_SEARCH,
        status=429,
        headers={"x-rate-limit-reset": str(reset)},
        json={"title": "Too Many Requests"},
    )
    with pytest.raises(RateLimitedError) as caught:
        fetch("x", {"query": "acme"}, bearer_token="b")
    wait = caught.value.retry_after
    assert wait is not None
    assert timedelta(minutes=14) < wait <= timedelta(minutes=15)


@responses.activate
def test_x_401_names_the_credentials() -> None:
    responses.get(X_SEARCH, status=401, json={"title": "Unauthorized", "status": 401})
    with pytest.raises(PollError, match="credentials"):
        fetch("x", {"query": "acme"}, bearer_token="wrong")
