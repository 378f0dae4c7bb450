"""Personas and clients. Tests run against real PostgreSQL and Redis (see Makefile `test`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django_scopes import scopes_disabled
from rest_framework.test import APIClient

from organisations import services
from organisations.events import Actor
from organisations.models import ApiKey, Membership, Organisation, Role, User
from tests.factories import MembershipFactory, OrganisationFactory, UserFactory


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Throttle and lockout counters never leak from one test into the next."""
    cache.clear()


@pytest.fixture
def unscoped() -> Iterator[None]:
    """For test bodies that inspect rows directly (requests open their own scope)."""
    with scopes_disabled():
        yield


@pytest.fixture
def org(db: Any) -> Organisation:
    return OrganisationFactory(name="XYZ", slug="xyz")


@pytest.fixture
def other_org(db: Any) -> Organisation:
    return OrganisationFactory(name="Other", slug="other")


def client_for(user: User) -> APIClient:
    """An API client authenticated with a real app token of `user`."""
    _, secret = services.auth_token_create(user=user, name="tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    client.user = user  # type: ignore[attr-defined]
    return client


def client_for_key(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def member_client(db: Any) -> Callable[..., APIClient]:
    """`member_client(org, "admin")`: a client for a new member with that role."""

    def make(organisation: Organisation, role: str = Role.VIEWER) -> APIClient:
        membership = MembershipFactory(organisation=organisation, role=role)
        client = client_for(membership.user)
        client.membership = membership  # type: ignore[attr-defined]
        return client

    return make


@pytest.fixture
def owner(org: Organisation, member_client: Callable[..., APIClient]) -> APIClient:
    return member_client(org, Role.OWNER)


@pytest.fixture
def admin(org: Organisation, member_client: Callable[..., APIClient]) -> APIClient:
    return member_client(org, Role.ADMIN)


@pytest.fixture
def responder(org: Organisation, member_client: Callable[..., APIClient]) -> APIClient:
    return member_client(org, Role.RESPONDER)


@pytest.fixture
def viewer(org: Organisation, member_client: Callable[..., APIClient]) -> APIClient:
    return member_client(org, Role.VIEWER)


@pytest.fixture
def outsider(db: Any) -> APIClient:
    """Logged in, member of no organisation."""
    return client_for(UserFactory())


@pytest.fixture
def api_key_client(db: Any) -> Callable[..., APIClient]:
    """`api_key_client(org, ["events:read"])`: a client using a fresh API key."""

    def make(organisation: Organisation, scopes: list[str]) -> APIClient:
        issued = services.api_key_create(
            organisation=organisation, name="tests", scopes=scopes, actor=Actor.system()
        )
        client = client_for_key(issued.secret)
        client.api_key = issued.api_key  # type: ignore[attr-defined]
        return client

    return make


def membership_of(client: APIClient) -> Membership:
    return client.membership  # type: ignore[attr-defined, no-any-return]


def api_key_of(client: APIClient) -> ApiKey:
    return client.api_key  # type: ignore[attr-defined, no-any-return]
