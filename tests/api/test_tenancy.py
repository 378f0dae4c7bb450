"""Tenant isolation, walked over every route of the v1 router with two organisations.

For each operation: lists never show the other organisation's objects; detail routes and
actions answer 404 for the other's ids (exactly like a missing id) and change nothing; a foreign
key in a body naming the other's object is a 404; API keys never reach another organisation.
A new endpoint is covered as soon as it is registered (its model needs a maker in
tests/factories.py TENANT_OBJECT_MAKERS, which the suite insists on).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from crisis_api.api.access import API_KEY_SCOPES
from organisations.models import EventChainHead, Organisation, Role
from tests.api.routes import Operation, tenant_operations, v1_operations
from tests.factories import TENANT_OBJECT_MAKERS

pytestmark = pytest.mark.django_db

TENANT_OPS = tenant_operations()


def make_object(op: Operation, organisation: Organisation) -> Any:
    model = op.viewset.model
    assert model in TENANT_OBJECT_MAKERS, f"add a maker for {model.__name__} in tests/factories"
    return TENANT_OBJECT_MAKERS[model](organisation)


def call(client: APIClient, op: Operation, url: str, body: dict[str, Any] | None = None) -> Any:
    method = getattr(client, op.method.lower())
    if op.method in ("POST", "PATCH", "PUT"):
        return method(url, body or {}, format="json")
    return method(url)


def chain_head(organisation: Organisation) -> int:
    return EventChainHead.objects.get(organisation=organisation).seq


def assert_not_found(response: Any, op: Operation) -> None:
    assert response.status_code == 404, f"{op}: {response.status_code} {response.content[:300]!r}"
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["detail"] == "Not found."


def test_every_tenant_operation_is_walked() -> None:
    """The walk is not vacuous: it sees the routes of every app registered so far."""
    paths = {op.path for op in TENANT_OPS}
    assert "/api/v1/orgs/{org}/members/{id}/" in paths
    assert len(TENANT_OPS) >= 15


@pytest.mark.parametrize("op", [op for op in TENANT_OPS if op.is_detail], ids=str)
def test_detail_operations_answer_404_for_another_tenants_object(
    op: Operation, org: Organisation, other_org: Organisation, owner: APIClient
) -> None:
    make_object(op, org)  # something of our own exists too
    foreign = make_object(op, other_org)
    before = chain_head(other_org)

    assert_not_found(call(owner, op, op.url(org.slug, foreign.pk)), op)
    assert_not_found(call(owner, op, op.url(other_org.slug, foreign.pk)), op)
    missing = call(owner, op, op.url(org.slug, uuid.uuid4()))
    assert_not_found(missing, op)

    assert chain_head(other_org) == before, f"{op} changed the other organisation"
    assert type(foreign)._base_manager.filter(pk=foreign.pk).exists()


@pytest.mark.parametrize("op", [op for op in TENANT_OPS if not op.is_detail], ids=str)
def test_collection_operations_of_another_tenant_answer_404(
    op: Operation, org: Organisation, other_org: Organisation, owner: APIClient
) -> None:
    before = chain_head(other_org)
    assert_not_found(call(owner, op, op.url(other_org.slug)), op)
    assert_not_found(call(owner, op, op.url("no-such-org")), op)
    assert chain_head(other_org) == before


@pytest.mark.parametrize(
    "op", [op for op in TENANT_OPS if op.method == "GET" and not op.is_detail], ids=str
)
def test_lists_exclude_the_other_tenants_objects(
    op: Operation, org: Organisation, other_org: Organisation, owner: APIClient
) -> None:
    if hasattr(op.viewset, "model") and op.viewset.model is not Organisation:
        own = make_object(op, org)
        foreign = make_object(op, other_org)
        response = owner.get(op.url(org.slug))
        assert response.status_code == 200, response.content
        text = response.content.decode()
        assert str(foreign.pk) not in text
        if "results" in json.loads(text):
            assert str(own.pk) in text
    response = owner.get(op.url(org.slug))
    assert str(other_org.pk) not in response.content.decode()


@pytest.mark.parametrize("op", [op for op in TENANT_OPS if op.tenant_fk_fields()], ids=str)
def test_foreign_keys_in_bodies_answer_404_for_another_tenants_object(
    op: Operation, org: Organisation, other_org: Organisation, owner: APIClient
) -> None:
    for name, field in op.tenant_fk_fields().items():
        foreign = TENANT_OBJECT_MAKERS[field.model](other_org)
        target = make_object(op, org).pk if op.is_detail else None
        body = {name: op.fk_body_value(name, str(field.value_for(foreign)))}
        response = call(owner, op, op.url(org.slug, target), body)
        assert_not_found_fk = response.status_code == 404
        assert assert_not_found_fk, f"{op} field {name}: {response.status_code}"


@pytest.mark.parametrize("op", TENANT_OPS, ids=str)
def test_api_keys_never_reach_another_organisation(
    op: Operation,
    org: Organisation,
    other_org: Organisation,
    api_key_client: Callable[..., APIClient],
) -> None:
    client = api_key_client(org, sorted(API_KEY_SCOPES))
    foreign = make_object(op, other_org) if op.is_detail else None
    assert_not_found(call(client, op, op.url(other_org.slug, getattr(foreign, "pk", None))), op)


def test_organisation_list_shows_only_memberships(
    org: Organisation, other_org: Organisation, member_client: Callable[..., APIClient]
) -> None:
    client = member_client(org, Role.VIEWER)
    slugs = [o["slug"] for o in client.get("/api/v1/orgs/").json()["results"]]
    assert slugs == ["xyz"]


def test_user_level_operations_are_known() -> None:
    non_tenant = {str(op) for op in v1_operations() if not op.is_tenant}
    assert non_tenant == {"GET /api/v1/orgs/", "POST /api/v1/orgs/"}
