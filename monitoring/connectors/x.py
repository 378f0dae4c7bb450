"""X (Twitter) API v2 recent search with the customer's bearer token.

Docs: https://docs.x.com/x-api/posts/search-recent-posts. `since_id` from the cursor, pages
walked with `next_token`; the author's follower count comes from the `author_id` expansion's
`public_metrics`. Rate limits answer 429 with `x-rate-limit-reset` (epoch seconds).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import requests

from monitoring.connectors.base import (
    MAX_PAGES,
    ConfigReader,
    Fetched,
    MentionIn,
    clip,
    expect,
    json_of,
    parse_time,
    request,
)

PLATFORM = "X"
API = "https://api.x.com/2/tweets/search/recent"
PAGE = 100  # the documented maximum of max_results


class XConnector:
    """Recent search (last 7 days); needs the customer's own API access and bearer token."""

    kind: ClassVar[str] = "x"
    required_credentials: ClassVar[tuple[str, ...]] = ("bearer_token",)
    optional_credentials: ClassVar[tuple[str, ...]] = ()

    def clean_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        reader = ConfigReader(config, frozenset({"query"}))
        return reader.finish({"query": reader.text("query", limit=512)})

    def fetch(
        self,
        *,
        session: requests.Session,
        config: Mapping[str, Any],
        credentials: Mapping[str, str],
        cursor: Mapping[str, Any],
    ) -> Fetched:
        headers = {"Authorization": f"Bearer {credentials['bearer_token']}"}
        params: dict[str, Any] = {
            "query": config["query"],
            "max_results": PAGE,
            "tweet.fields": "created_at,lang,author_id,public_metrics",
            "expansions": "author_id",
            "user.fields": "username,name,public_metrics",
        }
        since = str(cursor.get("since_id") or "")
        if since:
            params["since_id"] = since
        newest, mentions = since, list[MentionIn]()
        for page in range(MAX_PAGES if since else 1):
            body = json_of(
                request(session, "GET", API, platform=PLATFORM, headers=headers, params=params),
                PLATFORM,
            )
            expect(isinstance(body, dict), PLATFORM, "expected a JSON object")
            meta = body.get("meta") or {}
            tweets = body.get("data") or []
            users = (body.get("includes") or {}).get("users") or []
            expect(
                isinstance(meta, dict) and isinstance(tweets, list) and isinstance(users, list),
                PLATFORM,
                "expected `data`, `includes.users` and `meta`",
            )
            by_id = {u.get("id"): u for u in users if isinstance(u, dict)}
            mentions.extend(self._mention(tweet, by_id) for tweet in tweets)
            if page == 0 and isinstance(meta.get("newest_id"), str):
                newest = meta["newest_id"]  # the first page holds the newest posts
            token = meta.get("next_token")
            if not tweets or not isinstance(token, str) or not token:
                break
            params["pagination_token"] = token
        return Fetched(mentions, {"since_id": newest} if newest else dict(cursor))

    def _mention(self, tweet: Any, users: Mapping[Any, Any]) -> MentionIn:
        expect(
            isinstance(tweet, dict) and isinstance(tweet.get("id"), str),
            PLATFORM,
            "a post without an id",
        )
        user = users.get(tweet.get("author_id")) or {}
        metrics = user.get("public_metrics") or {}
        followers = metrics.get("followers_count") if isinstance(metrics, dict) else None
        username = clip(user.get("username"))
        return MentionIn(
            external_id=tweet["id"],
            text=str(tweet.get("text") or ""),
            posted_at=parse_time(tweet.get("created_at"), PLATFORM),
            url=f"https://x.com/{username or 'i'}/status/{tweet['id']}",
            author_handle=username,
            author_name=clip(user.get("name")),
            author_id=clip(tweet.get("author_id")),
            author_followers=followers if isinstance(followers, int) and followers >= 0 else None,
            language=clip(tweet.get("lang"), 8) if tweet.get("lang") not in ("und", None) else "",
        )
