"""Bluesky: `app.bsky.feed.searchPosts` (sort=latest, `since`, cursor paging).

Docs: https://docs.bsky.app/docs/api/app-bsky-feed-search-posts. Without credentials the
public AppView is asked; with an identifier and app password a session is created
(`com.atproto.server.createSession`) and the search goes through the account's PDS. The cursor
keeps the newest `indexedAt` seen, sent back as `since` so a poll asks only for what is new.
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
    PollError,
    clip,
    expect,
    json_of,
    parse_time,
    request,
    token_of,
)

PLATFORM = "Bluesky"
PUBLIC_APPVIEW = "https://public.api.bsky.app"
DEFAULT_PDS = "https://bsky.social"
PAGE = 100  # the documented maximum


def post_url(handle: str, uri: str) -> str:
    """at://did/app.bsky.feed.post/<rkey> → https://bsky.app/profile/<handle>/post/<rkey>."""
    rkey = uri.rsplit("/", 1)[-1]
    return f"https://bsky.app/profile/{handle}/post/{rkey}" if handle and rkey else ""


class BlueskyConnector:
    """Post search; authentication is optional (the public AppView serves search)."""

    kind: ClassVar[str] = "bluesky"
    required_credentials: ClassVar[tuple[str, ...]] = ()
    optional_credentials: ClassVar[tuple[str, ...]] = ("identifier", "app_password")

    def clean_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        reader = ConfigReader(config, frozenset({"query", "language", "service_url"}))
        cleaned = {
            "query": reader.text("query", limit=300),
            "language": reader.text("language", required=False, limit=8),
            "service_url": reader.https_url("service_url", default=DEFAULT_PDS),
        }
        return reader.finish(cleaned)

    def _session_token(
        self, session: requests.Session, config: Mapping[str, Any], creds: Mapping[str, str]
    ) -> str:
        return token_of(
            session,
            f"{config['service_url']}/xrpc/com.atproto.server.createSession",
            platform=PLATFORM,
            field="accessJwt",
            json={"identifier": creds["identifier"], "password": creds["app_password"]},
        )

    def fetch(
        self,
        *,
        session: requests.Session,
        config: Mapping[str, Any],
        credentials: Mapping[str, str],
        cursor: Mapping[str, Any],
    ) -> Fetched:
        headers = {"Accept": "application/json"}
        base = PUBLIC_APPVIEW
        if credentials.get("identifier") and credentials.get("app_password"):
            headers["Authorization"] = f"Bearer {self._session_token(session, config, credentials)}"
            base = config["service_url"]
        params: dict[str, Any] = {"q": config["query"], "sort": "latest", "limit": PAGE}
        if config.get("language"):
            params["lang"] = config["language"]
        since = cursor.get("since")
        if isinstance(since, str) and since:
            params["since"] = since
        newest = since if isinstance(since, str) else ""
        mentions: list[MentionIn] = []
        for _ in range(MAX_PAGES if since else 1):
            body = json_of(
                request(
                    session,
                    "GET",
                    f"{base}/xrpc/app.bsky.feed.searchPosts",
                    platform=PLATFORM,
                    headers=headers,
                    params=params,
                ),
                PLATFORM,
            )
            posts = body.get("posts") if isinstance(body, dict) else None
            expect(isinstance(posts, list), PLATFORM, "expected `posts` to be a list")
            for post in posts:  # type: ignore[union-attr]
                mention, indexed_at = self._mention(post)
                mentions.append(mention)
                newest = max(newest, indexed_at)
            next_cursor = body.get("cursor")
            if not posts or not isinstance(next_cursor, str) or not next_cursor:
                break
            params["cursor"] = next_cursor
        return Fetched(mentions, {"since": newest} if newest else dict(cursor))

    def _mention(self, post: Any) -> tuple[MentionIn, str]:
        expect(
            isinstance(post, dict) and isinstance(post.get("uri"), str),
            PLATFORM,
            "a post without a uri",
        )
        record = post.get("record") or {}
        author = post.get("author") or {}
        expect(isinstance(record, dict) and isinstance(author, dict), PLATFORM, "a malformed post")
        posted_at = parse_time(record.get("createdAt") or post.get("indexedAt"), PLATFORM)
        indexed_at = str(post.get("indexedAt") or record.get("createdAt") or "")
        langs = record.get("langs")
        language = (
            langs[0] if isinstance(langs, list) and langs and isinstance(langs[0], str) else ""
        )
        text = record.get("text")
        if not isinstance(text, str):
            raise PollError(f"{PLATFORM} sent a post whose text is not a string.")
        handle = clip(author.get("handle"))
        return (
            MentionIn(
                external_id=clip(post["uri"]),
                text=text,
                posted_at=posted_at,
                url=post_url(handle, post["uri"]),
                author_handle=handle,
                author_name=clip(author.get("displayName")),
                author_id=clip(author.get("did")),
                author_followers=None,  # not in PostView; reach comes from other signals
                language=clip(language.split("-")[0].lower(), 8),
            ),
            indexed_at,
        )
