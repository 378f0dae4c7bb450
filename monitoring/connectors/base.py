"""What every connector shares: the normalised mention shape, the errors a poll can end with,
and HTTP helpers that turn a platform's answer into one of them.

A connector fetches through the SSRF-guarded session it is given and never touches the
database: the poll service stores what it returns and only then advances the cursor.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol

import requests
from django.utils import timezone

from crisis_api.net import UnsafeURLError, retry_after

#: Largest response body we read from a platform or feed (a feed of 5 MB is already absurd).
MAX_RESPONSE_BYTES = 5 * 1024 * 1024
#: Pages one poll may walk before it stops and lets the next poll continue from the cursor.
MAX_PAGES = 5
USER_AGENT = "crisis-api/1.0 (+https://github.com/crisis-api; social listening)"


@dataclass(frozen=True, slots=True)
class MentionIn:
    """One post as every source delivers it, before scoring."""

    external_id: str
    text: str
    posted_at: datetime
    url: str = ""
    author_handle: str = ""
    author_name: str = ""
    author_id: str = ""
    author_followers: int | None = None
    language: str = ""


@dataclass(frozen=True, slots=True)
class Fetched:
    """A poll's result: the posts, and the cursor to store once they are stored."""

    mentions: list[MentionIn]
    cursor: dict[str, Any]
    not_modified: bool = False


class PollError(Exception):
    """A poll that failed; `reason` is written to the source's health for its owners to read."""

    def __init__(self, reason: str, *, retry_after: timedelta | None = None) -> None:
        super().__init__(reason)
        self.reason = reason[:1000]
        self.retry_after = retry_after


class RateLimitedError(PollError):
    """The platform said 429 (or its own rate-limit signal): wait at least `retry_after`."""


class ConfigError(Exception):
    """A source's configuration does not fit its kind; `errors` maps fields to messages."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


class Connector(Protocol):
    """One platform: validates a source's config and fetches what is new since the cursor."""

    kind: ClassVar[str]
    #: Credential names the source must (`required`) or may (`optional`) carry.
    required_credentials: ClassVar[tuple[str, ...]]
    optional_credentials: ClassVar[tuple[str, ...]]

    def clean_config(self, config: Mapping[str, Any]) -> dict[str, Any]: ...

    def fetch(
        self,
        *,
        session: requests.Session,
        config: Mapping[str, Any],
        credentials: Mapping[str, str],
        cursor: Mapping[str, Any],
    ) -> Fetched: ...


@dataclass
class ConfigReader:
    """Reads config values with per-field messages; `finish()` raises them all at once."""

    config: Mapping[str, Any]
    known: frozenset[str]
    errors: dict[str, str] = field(default_factory=dict)

    def text(self, name: str, *, required: bool = True, default: str = "", limit: int = 500) -> str:
        value = self.config.get(name, default)
        if value in (None, "") and not required:
            return default
        if not isinstance(value, str) or not value.strip():
            self.errors[name] = "Required; a non-empty string." if required else "Must be a string."
            return default
        if len(value) > limit:
            self.errors[name] = f"At most {limit} characters."
        return value.strip()

    def choice(self, name: str, choices: tuple[str, ...], default: str | None = None) -> str:
        value = self.config.get(name, default)
        if value not in choices:
            self.errors[name] = f"One of: {', '.join(choices)}."
            return choices[0]
        return str(value)

    def https_url(self, name: str, *, default: str | None = None) -> str:
        value = self.text(name, required=default is None, default=default or "", limit=2000)
        if value and not value.startswith(("https://", "http://")):
            self.errors[name] = "Must be an http(s) URL."
        return value.rstrip("/") if name != "url" else value

    def finish(self, cleaned: dict[str, Any]) -> dict[str, Any]:
        for name in sorted(set(self.config) - self.known):
            self.errors[str(name)] = "Unknown field."
        if self.errors:
            raise ConfigError(self.errors)
        return cleaned


def retry_after_of(response: requests.Response) -> timedelta | None:
    """Retry-After (seconds or HTTP date), else X's or Reddit's rate-limit reset header."""
    delay = retry_after(response)
    if delay is not None:
        return delay
    reset = response.headers.get("x-rate-limit-reset", "").strip()  # X: epoch seconds
    if reset.isdigit():
        return max(datetime.fromtimestamp(int(reset), tz=UTC) - timezone.now(), timedelta(0))
    reddit_reset = response.headers.get("x-ratelimit-reset", "").strip()  # Reddit: seconds
    try:
        return timedelta(seconds=float(reddit_reset)) if reddit_reset else None
    except ValueError:
        return None


def read_body(response: requests.Response) -> bytes:
    """The body, refusing one above MAX_RESPONSE_BYTES without reading it all."""
    chunks, size = [], 0
    for chunk in response.iter_content(64 * 1024):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            response.close()
            raise PollError(f"The response is larger than {MAX_RESPONSE_BYTES} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def request(
    session: requests.Session,
    method: str,
    url: str,
    *,
    platform: str,
    accept_not_modified: bool = False,
    **kwargs: Any,
) -> requests.Response:
    """Send one request and classify the answer: 2xx (and 304 when asked) is returned with its
    body read; 429, 5xx, refusals and network failures raise a PollError with a reason."""
    headers = {"User-Agent": USER_AGENT, **kwargs.pop("headers", {})}
    try:
        response = session.request(method, url, headers=headers, stream=True, **kwargs)
    except UnsafeURLError as exc:
        raise PollError(f"{platform}: refused to connect: {exc.reason}") from exc
    except requests.Timeout as exc:
        raise PollError(f"{platform}: timed out ({exc.__class__.__name__}).") from exc
    except requests.RequestException as exc:
        raise PollError(f"{platform}: could not connect ({exc.__class__.__name__}).") from exc
    code = response.status_code
    if 200 <= code < 300 or (accept_not_modified and code == 304):
        response._content = read_body(response)
        return response
    try:
        excerpt = read_body(response)[:300].decode("utf-8", "replace").strip()
    except PollError:
        excerpt = ""
    detail = f"{platform} answered HTTP {code}" + (f": {excerpt[:200]}" if excerpt else ".")
    if code == 429:
        raise RateLimitedError(detail, retry_after=retry_after_of(response))
    if code in (401, 403):
        raise PollError(f"{detail} Check the source's credentials and permissions.")
    raise PollError(detail, retry_after=retry_after_of(response) if code >= 500 else None)


def json_of(response: requests.Response, platform: str) -> Any:
    """The body as JSON, or a PollError naming what was wrong with it."""
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PollError(f"{platform} sent a response that is not valid JSON ({exc}).") from exc


def token_of(
    session: requests.Session, url: str, *, platform: str, field: str, **kwargs: Any
) -> str:
    """POST for an access token (OAuth client credentials, a session) and return `field`."""
    body = json_of(request(session, "POST", url, platform=platform, **kwargs), platform)
    token = body.get(field) if isinstance(body, dict) else None
    expect(isinstance(token, str), platform, f"the token response has no {field}")
    return str(token)


def expect(condition: bool, platform: str, what: str) -> None:
    """Raise a PollError unless the platform's JSON has the documented shape."""
    if not condition:
        raise PollError(f"{platform} sent an unexpected response: {what}.")


def parse_time(value: Any, platform: str) -> datetime:
    """An ISO-8601 time from a platform (with `Z`), as an aware datetime."""
    if not isinstance(value, str):
        raise PollError(f"{platform} sent a post without a valid time.")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise PollError(f"{platform} sent a post with an unreadable time {value!r}.") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def clip(value: Any, limit: int = 255) -> str:
    return str(value or "")[:limit]
