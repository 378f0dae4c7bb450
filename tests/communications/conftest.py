"""Fixtures of the communications suites: an author, approvers, platform accounts, and DNS for
the fake platforms (nothing leaves the machine: `responses` answers at the HTTP layer)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import responses
from rest_framework.test import APIClient

from communications.models import ChannelAccount, StatusPage
from crisis_api.crypto import encrypt
from organisations.models import Organisation, Role

_real_getaddrinfo = socket.getaddrinfo
MASTODON = "https://mastodon.example.com"
BLUESKY = "https://pds.example.com"


@pytest.fixture(autouse=True)
def _public_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """`*.example.com` resolves to a public address, so the SSRF guard lets it through."""

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.rstrip(".").endswith("example.com"):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port or 443))]
        return _real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)


@pytest.fixture
def author(org: Organisation, member_client: Callable[..., APIClient]) -> APIClient:
    return member_client(org, Role.COMMS_LEAD)


@pytest.fixture
def approver(org: Organisation, member_client: Callable[..., APIClient]) -> APIClient:
    return member_client(org, Role.APPROVER)


@pytest.fixture
def accounts(org: Organisation) -> dict[str, ChannelAccount]:
    return {
        "mastodon": ChannelAccount.all_tenants.create(
            organisation=org,
            platform="mastodon",
            base_url=MASTODON,
            handle="brand",
            credential_ciphertext=encrypt("mastodon-token"),
            credential_hint="…oken",
        ),
        "bluesky": ChannelAccount.all_tenants.create(
            organisation=org,
            platform="bluesky",
            base_url=BLUESKY,
            handle="brand.example.com",
            credential_ciphertext=encrypt("app-pass-word-1234"),
            credential_hint="…1234",
        ),
    }


@pytest.fixture
def status_page(org: Organisation) -> StatusPage:
    return StatusPage.all_tenants.create(organisation=org, enabled=True, title="XYZ status")


@pytest.fixture
def platforms() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
