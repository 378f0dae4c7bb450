"""Inbound push: a batch signed with the source's secret (Standard Webhooks) or sent with an API
key holding `mentions:ingest`; items are validated one by one; bad signatures, stale timestamps,
oversize batches and wrong types are refused clearly with nothing stored."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from django_scopes import scopes_disabled

from monitoring.models import Mention, Source
from monitoring.services import source_secret_rotate
from organisations import services
from organisations.events import Actor
from organisations.models import Event, Organisation
from tests.conftest import client_for_key
from tests.factories import make_source
from tests.monitoring.conftest import item, signed_headers

pytestmark = pytest.mark.django_db


def stored(source: Source) -> int:
    with scopes_disabled():
        return Mention.all_tenants.filter(source=source).count()


def test_signed_batch_is_scored_and_stored_with_one_event(
    org: Organisation, push_source: tuple[Source, str], push: Callable[..., Any]
) -> None:
    source, secret = push_source
    response = push(org, source, secret, {"mentions": [item(1), item(2), item(3)]})
    assert response.status_code == 200, response.content
    assert response.json() == {"received": 3, "stored": 3, "duplicates": 0, "rejected": []}
    with scopes_disabled():
        mention = Mention.all_tenants.get(source=source, external_id="crm-1")
        assert mention.engine_version
        assert mention.sentiment_label in Mention.SentimentLabel.values
        assert -1 <= mention.sentiment <= 1
        assert mention.author_followers == 10
        events = Event.all_tenants.filter(organisation=org, type="mentions.ingested")
        assert [e.payload["stored"] for e in events] == [3]
        assert events[0].actor_label == "signed push (CRM push)"
        source.refresh_from_db()
        assert source.mentions_stored == 3


def test_same_batch_twice_stores_each_post_once(
    org: Organisation, push_source: tuple[Source, str], push: Callable[..., Any]
) -> None:
    source, secret = push_source
    push(org, source, secret, {"mentions": [item(1), item(2)]})
    again = push(org, source, secret, {"mentions": [item(1), item(2), item(1)]})
    assert again.json() | {"rejected": []} == {
        "received": 3,
        "stored": 0,
        "duplicates": 3,
        "rejected": [],
    }
    assert stored(source) == 2


def test_partial_success_stores_valid_items_and_explains_each_rejected_one(
    org: Organisation, push_source: tuple[Source, str], push: Callable[..., Any]
) -> None:
    source, secret = push_source
    batch = [
        item(1),
        item(2, posted_at="yesterday"),
        item(3, text=""),
        "not an object",
        item(5, author_followers=-1, surprise=True),
        item(6),
    ]
    response = push(org, source, secret, {"mentions": batch})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["received"], body["stored"]) == (6, 2)
    rejected = {r["index"]: r for r in body["rejected"]}
    assert set(rejected) == {1, 2, 3, 4}
    assert rejected[1]["external_id"] == "crm-2"
    assert {e["attr"] for e in rejected[1]["errors"]} == {"posted_at"}
    assert {e["attr"] for e in rejected[2]["errors"]} == {"text"}
    assert rejected[3]["external_id"] is None
    assert {e["attr"] for e in rejected[4]["errors"]} == {"author_followers", "surprise"}
    assert stored(source) == 2


def test_a_batch_with_no_valid_item_is_a_400_listing_every_item(
    org: Organisation, push_source: tuple[Source, str], push: Callable[..., Any]
) -> None:
    source, secret = push_source
    response = push(org, source, secret, {"mentions": [item(1, text=5), {"external_id": 7}]})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    attrs = {e["attr"] for e in response.json()["errors"]}
    assert "mentions.0.text" in attrs
    assert "mentions.1.text" in attrs
    assert stored(source) == 0


@pytest.mark.parametrize(
    "payload",
    [[item(1)], {"mentions": item(1)}, {"mentions": None}, {}, "text", {"mentions": []}],
    ids=["list-body", "object-not-list", "null", "missing", "string", "empty"],
)
def test_wrong_types_are_a_400_and_store_nothing(
    org: Organisation, push_source: tuple[Source, str], push: Callable[..., Any], payload: Any
) -> None:
    source, secret = push_source
    response = push(org, source, secret, payload)
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert stored(source) == 0


def test_more_than_1000_mentions_is_a_413_and_stores_nothing(
    org: Organisation, push_source: tuple[Source, str], push: Callable[..., Any]
) -> None:
    source, secret = push_source
    batch = [
        {"external_id": str(n), "text": "x", "posted_at": "2026-11-25T12:00:00Z"}
        for n in range(1001)
    ]
    response = push(org, source, secret, {"mentions": batch})
    assert response.status_code == 413
    assert response.json()["code"] == "batch_too_large"
    assert stored(source) == 0


def test_a_body_over_the_byte_limit_is_a_413(
    org: Organisation, push_source: tuple[Source, str], push: Callable[..., Any], settings: Any
) -> None:
    source, secret = push_source
    settings.API_INGEST_MAX_BODY_BYTES = 2_000
    response = push(org, source, secret, {"mentions": [item(n) for n in range(30)]})
    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    assert stored(source) == 0


# --- The ingest route's own body limit ----------------------------------------------------------

SENTENCES = (
    "The Acme kettle I bought last month stopped heating after two weeks of normal use.",
    "Support told me to wait five working days and then nobody called back at all.",
    "Czajnik Acme przestał grzać po dwóch tygodniach, a infolinia nie odbiera telefonów.",
    "I have the receipt, the box and the serial number, and still no replacement in sight.",
    "Honestly the worst customer service I have dealt with this year, and I am not alone.",
    "Zgłoszenie reklamacyjne wisi od miesiąca bez odpowiedzi, to jest skandal.",
)


def long_post(n: int, chars: int) -> dict[str, Any]:
    """A realistic long post: varied sentences (English and Polish) up to `chars` characters,
    every author field and a URL filled in."""
    words: list[str] = []
    k = n
    while sum(len(w) + 1 for w in words) < chars:
        words.append(SENTENCES[k % len(SENTENCES)])
        k = k * 7 + 3
    return item(
        n,
        text=" ".join(words)[:chars],
        url=f"https://social.example.com/@customer{n}/statuses/{10**17 + n}",
        author_id=f"{10**15 + n}",
        author_name=f"Customer Number {n} (Kowalska-Smith)",
        author_handle=f"@customer{n}@social.example.com",
        language="en",
    )


def body_of(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def test_a_batch_of_1000_long_posts_fits_and_is_stored(
    org: Organisation, push_source: tuple[Source, str], client: Any, settings: Any
) -> None:
    """About 2 MB: well over the 1 MiB every other route takes, and signed over those exact
    bytes."""
    source, secret = push_source
    body = body_of({"mentions": [long_post(n, 1_900) for n in range(1_000)]})
    assert settings.API_MAX_BODY_BYTES < len(body) < settings.API_INGEST_MAX_BODY_BYTES
    assert len(body) > 2_000_000
    response = client.post(
        f"/api/v1/orgs/{org.slug}/sources/{source.pk}/ingest/",
        data=body,
        content_type="application/json",
        **signed_headers(secret, body),
    )
    assert response.status_code == 200, response.content[:500]
    assert (response.json()["stored"], response.json()["rejected"]) == (1_000, [])
    assert stored(source) == 1_000
    with scopes_disabled():
        longest = max(len(t) for t in Mention.all_tenants.values_list("text", flat=True))
    assert longest == 1_900


def test_a_large_body_changed_after_signing_is_still_a_401(
    org: Organisation, push_source: tuple[Source, str], client: Any
) -> None:
    """The signature check sees the bytes that arrived, however the middleware read them."""
    source, secret = push_source
    body = body_of({"mentions": [long_post(n, 1_900) for n in range(700)]})
    headers = signed_headers(secret, body)
    tampered = body.replace(b"crm-699", b"crm-698")
    response = client.post(
        f"/api/v1/orgs/{org.slug}/sources/{source.pk}/ingest/",
        data=tampered,
        content_type="application/json",
        **headers,
    )
    assert response.status_code == 401
    assert stored(source) == 0


def test_an_api_key_push_of_a_large_body_is_parsed_within_the_ingest_limit(
    org: Organisation, push_source: tuple[Source, str]
) -> None:
    """Without a signature nothing reads `request.body` first: DRF's parser bounds it."""
    source, _ = push_source
    issued = services.api_key_create(
        organisation=org, name="crm", scopes=["mentions:ingest"], actor=Actor.system("tests")
    )
    body = body_of({"mentions": [long_post(n, 10_000) for n in range(150)]})
    assert len(body) > 1_500_000
    response = client_for_key(issued.secret).generic(
        "POST",
        f"/api/v1/orgs/{org.slug}/sources/{source.pk}/ingest/",
        body,
        content_type="application/json",
    )
    assert response.status_code == 200, response.content[:500]
    assert response.json()["stored"] == 150


def oversize_batch(settings: Any) -> bytes:
    """Items each within every field limit (10,000 characters of text, written as JSON escapes
    of Polish letters, six bytes each), past the ingest limit in total: only the byte limit
    can refuse it."""
    text = ("żółćęśąźń" * 1_200)[:10_000]
    count = settings.API_INGEST_MAX_BODY_BYTES // len(body_of(item(0, text=text))) + 1
    body = body_of({"mentions": [item(n, text=text) for n in range(count)]})
    assert len(body) > settings.API_INGEST_MAX_BODY_BYTES
    return body


def test_a_body_over_the_ingest_limit_is_a_413_and_stores_nothing(
    org: Organisation, push_source: tuple[Source, str], client: Any, settings: Any
) -> None:
    source, secret = push_source
    assert settings.API_INGEST_MAX_BODY_BYTES == 16 * 1024 * 1024  # the documented default
    body = oversize_batch(settings)
    response = client.post(
        f"/api/v1/orgs/{org.slug}/sources/{source.pk}/ingest/",
        data=body,
        content_type="application/json",
        **signed_headers(secret, body),
    )
    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    assert str(settings.API_INGEST_MAX_BODY_BYTES) in response.json()["detail"]
    assert stored(source) == 0


def post_chunked(
    client: Any, org: Organisation, source: Source, body: bytes, headers: dict[str, str]
) -> Any:
    """The way a chunked upload arrives: no Content-Length, a stream that ends at EOF."""
    return client.request(
        REQUEST_METHOD="POST",
        PATH_INFO=f"/api/v1/orgs/{org.slug}/sources/{source.pk}/ingest/",
        CONTENT_TYPE="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": io.BytesIO(body)},
        **headers,
    )


def test_a_chunked_body_over_the_ingest_limit_is_a_413_and_stores_nothing(
    org: Organisation, push_source: tuple[Source, str], client: Any, settings: Any
) -> None:
    """No Content-Length: the middleware's bounded read refuses it."""
    source, secret = push_source
    settings.API_INGEST_MAX_BODY_BYTES = 2 * 1024 * 1024
    body = oversize_batch(settings)
    response = post_chunked(client, org, source, body, signed_headers(secret, body))
    assert response.status_code == 413
    assert stored(source) == 0


def test_a_chunked_large_push_within_the_ingest_limit_is_stored(
    org: Organisation, push_source: tuple[Source, str], client: Any
) -> None:
    source, secret = push_source
    body = body_of({"mentions": [long_post(n, 10_000) for n in range(120)]})
    assert len(body) > 1_048_576
    response = post_chunked(client, org, source, body, signed_headers(secret, body))
    assert response.status_code == 200, response.content[:500]
    assert stored(source) == 120


def test_every_other_route_keeps_the_1_mib_limit(
    org: Organisation, push_source: tuple[Source, str], admin: Any
) -> None:
    """Even the push source's other actions: the larger limit is the ingest route's alone."""
    source, _ = push_source
    big = json.dumps({"name": "x" * 2_000_000}).encode()
    for url in (
        f"/api/v1/orgs/{org.slug}/sources/",
        f"/api/v1/orgs/{org.slug}/sources/{source.pk}/rotate-secret/",
        f"/api/v1/orgs/{org.slug}/sources/{source.pk}/ingest/extra/",
        f"/api/v1/orgs/{org.slug}/api-keys/",
    ):
        response = admin.generic("POST", url, big, content_type="application/json")
        assert response.status_code == 413, url
        assert response["Content-Type"] == "application/problem+json"
        assert "1048576 bytes" in response.json()["detail"]
    assert stored(source) == 0


def test_wrong_signature_is_a_401_and_stores_nothing(
    org: Organisation, push_source: tuple[Source, str], push: Callable[..., Any]
) -> None:
    source, _ = push_source
    other = "whsec_" + "A" * 43 + "="
    response = push(org, source, other, {"mentions": [item(1)]})
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_signature"
    assert stored(source) == 0


def test_body_changed_after_signing_is_a_401(
    org: Organisation, push_source: tuple[Source, str], push: Callable[..., Any]
) -> None:
    source, secret = push_source
    headers = signed_headers(secret, json.dumps({"mentions": [item(1)]}).encode())
    response = push(org, source, secret, {"mentions": [item(2)]}, headers=headers)
    assert response.status_code == 401
    assert stored(source) == 0


def test_stale_timestamp_is_a_401_even_with_a_valid_signature(
    org: Organisation, push_source: tuple[Source, str], push: Callable[..., Any]
) -> None:
    source, secret = push_source
    response = push(org, source, secret, {"mentions": [item(1)]}, at=time.time() - 600)
    assert response.status_code == 401
    assert response.json()["code"] == "stale_timestamp"
    future = push(org, source, secret, {"mentions": [item(1)]}, at=time.time() + 600)
    assert future.json()["code"] == "stale_timestamp"
    assert stored(source) == 0


def test_missing_signature_headers_without_credentials_is_a_401(
    org: Organisation, push_source: tuple[Source, str], push: Callable[..., Any]
) -> None:
    source, secret = push_source
    response = push(org, source, secret, {"mentions": [item(1)]}, headers={})
    assert response.status_code == 401
    partial = push(
        org, source, secret, {"mentions": [item(1)]}, headers={"HTTP_WEBHOOK_SIGNATURE": "v1,x"}
    )
    assert partial.status_code == 401
    assert stored(source) == 0


def test_a_signature_for_another_organisations_url_is_a_404(
    org: Organisation,
    other_org: Organisation,
    push_source: tuple[Source, str],
    push: Callable[..., Any],
) -> None:
    source, secret = push_source
    response = push(other_org, source, secret, {"mentions": [item(1)]})
    assert response.status_code == 404
    assert stored(source) == 0


def test_previous_secret_verifies_during_the_rotation_overlap(
    org: Organisation, push_source: tuple[Source, str], push: Callable[..., Any]
) -> None:
    source, old = push_source
    new = source_secret_rotate(source=source, actor=Actor.system("tests"))
    assert push(org, source, old, {"mentions": [item(1)]}).status_code == 200
    assert push(org, source, new, {"mentions": [item(2)]}).status_code == 200


def test_paused_source_refuses_pushes(
    org: Organisation, push_source: tuple[Source, str], push: Callable[..., Any]
) -> None:
    source, secret = push_source
    Source.all_tenants.filter(pk=source.pk).update(status=Source.Status.PAUSED)
    response = push(org, source, secret, {"mentions": [item(1)]})
    assert response.status_code == 409
    assert stored(source) == 0


def test_api_key_with_the_ingest_scope_may_push_without_a_signature(
    org: Organisation, push_source: tuple[Source, str]
) -> None:
    source, _ = push_source
    issued = services.api_key_create(
        organisation=org, name="crm", scopes=["mentions:ingest"], actor=Actor.system("tests")
    )
    client = client_for_key(issued.secret)
    url = f"/api/v1/orgs/{org.slug}/sources/{source.pk}/ingest/"
    response = client.post(url, {"mentions": [item(1)]}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["stored"] == 1
    reader = services.api_key_create(
        organisation=org, name="reader", scopes=["mentions:read"], actor=Actor.system("tests")
    )
    refused = client_for_key(reader.secret).post(url, {"mentions": [item(2)]}, format="json")
    assert refused.status_code == 403
    assert stored(source) == 1


def test_pushing_to_a_polled_source_is_a_409(org: Organisation, admin: Any) -> None:
    source = make_source(org)
    url = f"/api/v1/orgs/{org.slug}/sources/{source.pk}/ingest/"
    response = admin.post(url, {"mentions": [item(1)]}, format="json")
    assert response.status_code == 409
    assert stored(source) == 0


def test_signed_pushes_are_throttled_per_source_at_the_credential_rate(
    org: Organisation, push_source: tuple[Source, str], push: Callable[..., Any], settings: Any
) -> None:
    from rest_framework.settings import api_settings

    from monitoring.authentication import PushRateThrottle

    source, secret = push_source
    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "credential": "2/min", "anon": "1000/min"}
    original = PushRateThrottle.THROTTLE_RATES
    PushRateThrottle.THROTTLE_RATES = rates
    try:
        codes = [push(org, source, secret, {"mentions": [item(n)]}).status_code for n in range(3)]
    finally:
        PushRateThrottle.THROTTLE_RATES = original
    assert codes == [200, 200, 429]
