"""The communications set-up through the API: platform accounts (credentials write-only and
encrypted, URLs SSRF-checked), approval policies (validated steps) and banned terms."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from communications.models import ApprovalPolicy, BannedTerm, ChannelAccount
from crisis_api.crypto import decrypt
from organisations.models import Event, Organisation
from tests.communications.helpers import BASE, post
from tests.problems import assert_problem

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("unscoped")]
ACCOUNT = {
    "platform": "bluesky",
    "base_url": "https://pds.example.com",
    "handle": "brand.example.com",
    "credential": "abcd-efgh-ijkl-mnop",
}


def test_connect_an_account_keeps_the_credential_secret(
    org: Organisation, admin: APIClient
) -> None:
    response = post(admin, f"{BASE}/channel-accounts/", ACCOUNT)
    assert response.status_code == 201, response.content
    body = response.json()
    assert "credential" not in body
    assert body["credential_hint"] == "…mnop"
    stored = ChannelAccount.all_tenants.get(pk=body["id"])
    assert "abcd" not in stored.credential_ciphertext
    assert decrypt(stored.credential_ciphertext) == ACCOUNT["credential"]
    event = Event.all_tenants.get(type="channel_account.connected")
    assert "abcd" not in str(event.payload)
    assert_problem(post(admin, f"{BASE}/channel-accounts/", ACCOUNT), 409)
    patched = admin.patch(
        f"{BASE}/channel-accounts/{body['id']}/", {"platform": "mastodon"}, format="json"
    )
    assert_problem(patched, 400)


@pytest.mark.parametrize(
    "url",
    ["https://127.0.0.1", "https://10.0.0.8", "https://169.254.169.254", "http://pds.example.com"],
)
def test_account_urls_must_be_public_https(org: Organisation, admin: APIClient, url: str) -> None:
    response = post(admin, f"{BASE}/channel-accounts/", {**ACCOUNT, "base_url": url})
    assert_problem(response, 400)
    assert not ChannelAccount.all_tenants.exists()


def test_accounts_are_for_admins(org: Organisation, viewer: APIClient) -> None:
    assert_problem(post(viewer, f"{BASE}/channel-accounts/", ACCOUNT), 403)
    assert_problem(viewer.get(f"{BASE}/channel-accounts/"), 403)


@pytest.mark.parametrize(
    "steps",
    [
        [],
        [{"rule": "any"}],
        [{"roles": ["pope"]}],
        [{"roles": ["approver"], "rule": "most"}],
        [{"users": ["00000000-0000-0000-0000-000000000000"]}],
        [{"roles": ["approver"]}] * 6,
    ],
)
def test_policy_steps_are_validated(
    org: Organisation, admin: APIClient, steps: list[object]
) -> None:
    response = post(admin, f"{BASE}/approval-policies/", {"name": "P", "steps": steps})
    assert_problem(response, 400)
    assert not ApprovalPolicy.all_tenants.exists()


def test_banned_terms_are_normalised_and_unique(org: Organisation, admin: APIClient) -> None:
    created = post(
        admin, f"{BASE}/banned-terms/", {"term": "  free   of charge ", "severity": "warn"}
    )
    assert created.status_code == 201, created.content
    assert created.json()["term"] == "free of charge"
    assert_problem(post(admin, f"{BASE}/banned-terms/", {"term": "free of charge"}), 409)
    deleted = admin.delete(f"{BASE}/banned-terms/{created.json()['id']}/")
    assert deleted.status_code == 204
    assert not BannedTerm.all_tenants.exists()
