"""Mastodon: a hashtag timeline, a status search or an account's statuses on any instance.

Docs: https://docs.joinmastodon.org/methods/timelines/#tag, /methods/search/#v2,
/methods/accounts/#statuses. Pages are walked oldest-first with `min_id` (no gaps when more
than a page arrived since the last poll); the cursor keeps the newest id as `since_id`. The
first poll takes only the newest page: a new source does not backfill history.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import requests

from monitoring.connectors.base import (
    MAX_PAGES,
    ConfigError,
    ConfigReader,
    Fetched,
    MentionIn,
    PollError,
    clip,
    expect,
    json_of,
    parse_time,
    request,
)
from monitoring.connectors.feed import plain_text

PLATFORM = "Mastodon"
PAGE = 40  # the documented maximum for these endpoints


def _status_id(value: Any) -> int:
    return int(value) if isinstance(value, str) and value.isdigit() else 0


class MastodonConnector:
    """Public timelines need no token; search of statuses needs the user's access token."""

    kind: ClassVar[str] = "mastodon"
    required_credentials: ClassVar[tuple[str, ...]] = ()
    optional_credentials: ClassVar[tuple[str, ...]] = ("access_token",)

    def clean_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        reader = ConfigReader(config, frozenset({"instance_url", "mode", "value"}))
        cleaned = {
            "instance_url": reader.https_url("instance_url"),
            "mode": reader.choice("mode", ("hashtag", "search", "account")),
            "value": reader.text("value", limit=200).lstrip("#"),
        }
        if cleaned["mode"] == "account" and not cleaned["value"].isdigit() and not reader.errors:
            raise ConfigError({"value": "For mode `account`, the account's numeric id."})
        return reader.finish(cleaned)

    def _endpoint(self, config: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        base, mode, value = config["instance_url"], config["mode"], config["value"]
        if mode == "hashtag":
            return f"{base}/api/v1/timelines/tag/{quote(value, safe='')}", {"limit": PAGE}
        if mode == "account":
            return f"{base}/api/v1/accounts/{quote(value, safe='')}/statuses", {"limit": PAGE}
        return f"{base}/api/v2/search", {"q": value, "type": "statuses", "limit": PAGE}

    def fetch(
        self,
        *,
        session: requests.Session,
        config: Mapping[str, Any],
        credentials: Mapping[str, str],
        cursor: Mapping[str, Any],
    ) -> Fetched:
        url, params = self._endpoint(config)
        headers = {"Accept": "application/json"}
        if credentials.get("access_token"):
            headers["Authorization"] = f"Bearer {credentials['access_token']}"
        since = _status_id(cursor.get("since_id"))
        newest, mentions = since, list[MentionIn]()
        for _ in range(MAX_PAGES if since else 1):
            page_params = {**params, "min_id": str(newest)} if newest else params
            body = json_of(
                request(
                    session, "GET", url, platform=PLATFORM, headers=headers, params=page_params
                ),
                PLATFORM,
            )
            statuses = (
                body.get("statuses")
                if config["mode"] == "search" and isinstance(body, dict)
                else body
            )
            if not isinstance(statuses, list):
                raise PollError(f"{PLATFORM} sent an unexpected response: not a list of statuses.")
            page = [self._mention(status) for status in statuses]
            mentions.extend(m for m in page if m is not None)
            ids = [_status_id(s.get("id")) for s in statuses if isinstance(s, dict)]
            if not ids or max(ids) <= newest:
                break
            newest = max(ids)
            if len(statuses) < PAGE:
                break
        return Fetched(mentions, {"since_id": str(newest)} if newest else dict(cursor))

    def _mention(self, status: Any) -> MentionIn | None:
        expect(isinstance(status, dict) and "id" in status, PLATFORM, "a status without an id")
        if status.get("reblog"):
            return None  # a boost repeats another status; the original is what matters
        account = status.get("account") or {}
        expect(isinstance(account, dict), PLATFORM, "a status with a malformed account")
        text = plain_text(str(status.get("content") or ""))
        if status.get("spoiler_text"):
            text = f"{plain_text(str(status['spoiler_text']))}\n\n{text}"
        followers = account.get("followers_count")
        return MentionIn(
            external_id=clip(status["id"]),
            text=text,
            posted_at=parse_time(status.get("created_at"), PLATFORM),
            url=clip(status.get("url") or status.get("uri"), 2000),
            author_handle=clip(account.get("acct")),
            author_name=clip(account.get("display_name") or account.get("username")),
            author_id=clip(account.get("id")),
            author_followers=followers if isinstance(followers, int) and followers >= 0 else None,
            language=clip(status.get("language"), 8),
        )
