"""Helpers shared by the communications suites: URLs, API calls and platform fakes whose
shapes follow the providers' documentation."""

from __future__ import annotations

import json
from typing import Any

import responses
from rest_framework.test import APIClient

from communications import services
from communications.models import Message
from organisations.models import Event
from tests.communications.conftest import BLUESKY, MASTODON

BASE = "/api/v1/orgs/xyz"


def message_url(message: Any, action: str = "") -> str:
    pk = message["id"] if isinstance(message, dict) else message.pk
    return f"{BASE}/messages/{pk}/" + (f"{action.replace('_', '-')}/" if action else "")


def post(client: APIClient, url: str, body: dict[str, Any] | None = None, **headers: Any) -> Any:
    return client.post(url, body or {}, format="json", **headers)


def draft(client: APIClient, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "public_statement",
        "title": "Delivery delays",
        "body": "We are sorry for the delays. We will post the next update by 14:00.",
        "channels": ["status_page"],
        "status_label": "investigating",
        **fields,
    }
    response = post(client, f"{BASE}/messages/", body)
    assert response.status_code == 201, response.content
    return response.json()  # type: ignore[no-any-return]


def act(client: APIClient, message: Any, action: str, body: dict[str, Any] | None = None) -> Any:
    return post(client, message_url(message, action), body)


def events(message: Any, type: str | None = None) -> list[Event]:
    pk = message["id"] if isinstance(message, dict) else message.pk
    rows = Event.all_tenants.filter(subject_type="message", subject_id=str(pk)).order_by("seq")
    return [e for e in rows if type is None or e.type == type]


def deliver(message: Any) -> Message:
    """Run the publish worker's job for the message, as the task would."""
    pk = message["id"] if isinstance(message, dict) else message.pk
    services.message_deliver(message_id=pk)
    return Message.all_tenants.get(pk=pk)


# --- platform fakes (shapes from docs.joinmastodon.org and docs.bsky.app) -------------------------

MASTODON_STATUSES = f"{MASTODON}/api/v1/statuses"
BSKY_SESSION = f"{BLUESKY}/xrpc/com.atproto.server.createSession"
BSKY_CREATE = f"{BLUESKY}/xrpc/com.atproto.repo.createRecord"
BSKY_GET = f"{BLUESKY}/xrpc/com.atproto.repo.getRecord"
DID = "did:plc:z72i7hdynmk6r22z27h6tvur"


def mastodon_status(status_id: str = "109372843234", **extra: Any) -> dict[str, Any]:
    """A Status entity as POST /api/v1/statuses returns it (abridged)."""
    return {
        "id": status_id,
        "created_at": "2026-11-26T09:00:00.000Z",
        "in_reply_to_id": extra.get("in_reply_to_id"),
        "visibility": "public",
        "language": "en",
        "uri": f"https://mastodon.example.com/users/brand/statuses/{status_id}",
        "url": f"https://mastodon.example.com/@brand/{status_id}",
        "content": "<p>…</p>",
        "account": {"id": "1", "username": "brand", "acct": "brand"},
    }


def mastodon_accepts(mock: responses.RequestsMock) -> list[dict[str, Any]]:
    """Answer each POST with a Status; returns the request bodies, with their key header."""
    seen: list[dict[str, Any]] = []

    def created(request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        seen.append(
            {
                **body,
                "_idempotency_key": request.headers.get("Idempotency-Key"),
                "_auth": request.headers.get("Authorization"),
            }
        )
        return 200, {}, json.dumps(mastodon_status(str(109372843234 + len(seen)), **body))

    mock.add_callback(
        responses.POST, MASTODON_STATUSES, callback=created, content_type="application/json"
    )
    return seen


def bluesky_session(mock: responses.RequestsMock) -> None:
    mock.add(
        responses.POST,
        BSKY_SESSION,
        json={
            "accessJwt": "eyJ.access",
            "refreshJwt": "eyJ.refresh",
            "handle": "brand.example.com",
            "did": DID,
            "active": True,
        },
    )


def bluesky_accepts(mock: responses.RequestsMock) -> list[dict[str, Any]]:
    bluesky_session(mock)
    seen: list[dict[str, Any]] = []

    def created(request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        seen.append({**body, "_auth": request.headers.get("Authorization")})
        uri = f"at://{DID}/app.bsky.feed.post/{body['rkey']}"
        return (
            200,
            {},
            json.dumps(
                {
                    "uri": uri,
                    "cid": "bafyreig2fjxi3rptqdgylg7e5hmjl6mcke7rn2b6cugzlqq3i4zu6rq52q",
                    "commit": {"cid": "bafyreib2rxk3", "rev": "3l6oveex3ii2l"},
                    "validationStatus": "valid",
                }
            ),
        )

    mock.add_callback(
        responses.POST, BSKY_CREATE, callback=created, content_type="application/json"
    )
    return seen
