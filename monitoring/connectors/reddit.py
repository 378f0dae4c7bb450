"""Reddit: search (site-wide or one subreddit), newest first.

Docs: https://www.reddit.com/dev/api/#GET_search. With a client id and secret the app-only
OAuth token (`grant_type=client_credentials`) is used against oauth.reddit.com, as Reddit
requires for regular API use; without, the public `search.json`. Pages are walked with `after`
until posts older than the cursor's `created_utc` appear; the cursor keeps the newest time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote

import requests

from monitoring.connectors.base import (
    MAX_PAGES,
    ConfigReader,
    Fetched,
    MentionIn,
    PollError,
    clip,
    expect,
    json_of,
    request,
    token_of,
)

PLATFORM = "Reddit"
PAGE = 100
MAX_TEXT = 10_000


class RedditConnector:
    """Listing JSON (`t3` links); OAuth when the source has an app's credentials."""

    kind: ClassVar[str] = "reddit"
    required_credentials: ClassVar[tuple[str, ...]] = ()
    optional_credentials: ClassVar[tuple[str, ...]] = ("client_id", "client_secret")

    def clean_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        reader = ConfigReader(config, frozenset({"query", "subreddit"}))
        subreddit = reader.text("subreddit", required=False, limit=50).removeprefix("r/")
        if subreddit and not subreddit.replace("_", "").isalnum():
            reader.errors["subreddit"] = "Letters, digits and underscores only."
        return reader.finish({"query": reader.text("query", limit=512), "subreddit": subreddit})

    def _token(self, session: requests.Session, credentials: Mapping[str, str]) -> str:
        return token_of(
            session,
            "https://www.reddit.com/api/v1/access_token",
            platform=PLATFORM,
            field="access_token",
            auth=(credentials["client_id"], credentials["client_secret"]),
            data={"grant_type": "client_credentials"},
        )

    def fetch(
        self,
        *,
        session: requests.Session,
        config: Mapping[str, Any],
        credentials: Mapping[str, str],
        cursor: Mapping[str, Any],
    ) -> Fetched:
        headers: dict[str, str] = {}
        base = "https://www.reddit.com"
        if credentials.get("client_id") and credentials.get("client_secret"):
            headers["Authorization"] = f"Bearer {self._token(session, credentials)}"
            base = "https://oauth.reddit.com"
        sub = config.get("subreddit") or ""
        path = f"/r/{quote(sub, safe='')}/search" if sub else "/search"
        url = f"{base}{path}" + ("" if base.startswith("https://oauth") else ".json")
        params: dict[str, Any] = {"q": config["query"], "sort": "new", "limit": PAGE, "raw_json": 1}
        if sub:
            params["restrict_sr"] = 1
        since = float(cursor.get("created_utc") or 0)
        newest, mentions = since, []
        for _ in range(MAX_PAGES if since else 1):
            body = json_of(
                request(session, "GET", url, platform=PLATFORM, headers=headers, params=params),
                PLATFORM,
            )
            data = body.get("data") if isinstance(body, dict) else None
            children = data.get("children") if isinstance(data, dict) else None
            expect(isinstance(children, list), PLATFORM, "expected a Listing with children")
            reached_old = False
            for child in children:  # type: ignore[union-attr]
                mention, created = self._mention(child)
                if created < since:
                    reached_old = True
                    continue
                mentions.append(mention)
                newest = max(newest, created)
            after = data.get("after")  # type: ignore[union-attr]
            if reached_old or not isinstance(after, str) or not after:
                break
            params["after"] = after
        return Fetched(mentions, {"created_utc": newest} if newest else dict(cursor))

    def _mention(self, child: Any) -> tuple[MentionIn, float]:
        data = child.get("data") if isinstance(child, dict) else None
        expect(isinstance(data, dict) and "id" in data, PLATFORM, "a listing item without data")
        assert isinstance(data, dict)
        created = data.get("created_utc")
        if not isinstance(created, int | float):
            raise PollError(f"{PLATFORM} sent a post without created_utc.")
        title, body = str(data.get("title") or ""), str(data.get("selftext") or "")
        text = f"{title}\n\n{body}" if body else title
        permalink = str(data.get("permalink") or "")
        return (
            MentionIn(
                external_id=clip(data.get("name") or f"t3_{data['id']}"),
                text=text[:MAX_TEXT],
                posted_at=datetime.fromtimestamp(float(created), tz=UTC),
                url=f"https://www.reddit.com{permalink}"
                if permalink
                else clip(data.get("url"), 2000),
                author_handle=clip(data.get("author")),
                author_name=clip(data.get("author")),
                author_id=clip(data.get("author_fullname")),
            ),
            float(created),
        )
