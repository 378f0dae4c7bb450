"""Connectors: one per platform, one interface (`Connector`), HTTP only through the SSRF guard."""

from monitoring.connectors.base import (
    ConfigError,
    Connector,
    Fetched,
    MentionIn,
    PollError,
    RateLimitedError,
)
from monitoring.connectors.bluesky import BlueskyConnector
from monitoring.connectors.feed import FeedConnector
from monitoring.connectors.mastodon import MastodonConnector
from monitoring.connectors.reddit import RedditConnector
from monitoring.connectors.x import XConnector

CONNECTORS: dict[str, Connector] = {
    c.kind: c
    for c in (
        FeedConnector(),
        MastodonConnector(),
        BlueskyConnector(),
        RedditConnector(),
        XConnector(),
    )
}


def connector_for(kind: str) -> Connector:
    return CONNECTORS[kind]


__all__ = [
    "CONNECTORS",
    "ConfigError",
    "Connector",
    "Fetched",
    "MentionIn",
    "PollError",
    "RateLimitedError",
    "connector_for",
]
