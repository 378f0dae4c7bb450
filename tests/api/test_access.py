"""The role-by-action matrix and the API-key scope matrix, walked over every tenant operation,
and the start-up refusal of an action without an access declaration."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, ClassVar

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient

from crisis_api.api.access import ADMINS, API_KEY_SCOPES, allow
from crisis_api.api.router import V1Router
from crisis_api.api.viewsets import TenantViewSet
from organisations.models import Membership, Organisation, Role
from tests.api.routes import Operation, tenant_operations, v1_operations
from tests.api.test_tenancy import call, make_object

pytestmark = pytest.mark.django_db


def _target(op: Operation, organisation: Organisation) -> Any:
    return make_object(op, organisation).pk if op.is_detail else None


MATRIX = [(op, role) for op in tenant_operations() for role in Role.values]


@pytest.mark.parametrize(("op", "role"), MATRIX, ids=lambda v: str(v))
def test_role_matrix(
    op: Operation, role: str, org: Organisation, member_client: Callable[..., APIClient]
) -> None:
    client = member_client(org, role)
    response = call(client, op, op.url(org.slug, _target(op, org)))
    if role in op.access.roles:
        assert response.status_code != 403, f"{op} as {role}: {response.content[:300]!r}"
        assert response.status_code < 500
    else:
        assert response.status_code == 403, f"{op} as {role}: {response.status_code}"
        assert response.json()["code"] == "permission_denied"


SCOPED_OPS = list(v1_operations())


@pytest.mark.parametrize("op", SCOPED_OPS, ids=str)
def test_api_key_scope_matrix(
    op: Operation, org: Organisation, api_key_client: Callable[..., APIClient]
) -> None:
    scope = op.access.scope
    others = sorted(set(API_KEY_SCOPES) - {scope})
    without = api_key_client(org, others)
    response = call(without, op, op.url(org.slug, _target(op, org) if op.is_tenant else None))
    assert response.status_code == 403, f"{op} without {scope}: {response.status_code}"
    if scope is not None:
        with_scope = api_key_client(org, [scope])
        target = _target(op, org) if op.is_tenant else None
        response = call(with_scope, op, op.url(org.slug, target))
        assert response.status_code not in (401, 403), f"{op} with {scope}: {response.content!r}"


def test_anonymous_calls_get_401_with_a_challenge(org: Organisation) -> None:
    for op in v1_operations():
        cache.clear()  # the walk alone makes more anonymous calls than the per-address rate
        response = call(APIClient(), op, op.url(org.slug, uuid.uuid4()))
        assert response.status_code == 401, f"{op}: {response.status_code}"
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert response["Content-Type"] == "application/problem+json"


class _Undeclared(mixins.ListModelMixin, TenantViewSet):
    model = Membership
    access: ClassVar[Any] = {"list": allow(ADMINS)}

    @action(detail=False, methods=["post"])
    def archive(self, request: Request, org: str) -> Response:
        return Response()


def test_an_action_without_declaration_refuses_to_start() -> None:
    with pytest.raises(ImproperlyConfigured, match="archive"):
        V1Router().register("x", _Undeclared, "x")


def test_a_declaration_for_a_missing_action_refuses_to_start() -> None:
    class Stale(mixins.ListModelMixin, TenantViewSet):
        model = Membership
        access: ClassVar[Any] = {"list": allow(ADMINS), "destroy": allow(ADMINS)}

    with pytest.raises(ImproperlyConfigured, match="destroy"):
        V1Router().register("x", Stale, "x")


def test_unknown_roles_and_scopes_are_refused() -> None:
    with pytest.raises(ImproperlyConfigured):
        allow({"superhero"})
    with pytest.raises(ImproperlyConfigured):
        allow(ADMINS, "everything:write")


def test_options_on_every_route_is_a_405_problem(
    org: Organisation, member_client: Callable[..., APIClient]
) -> None:
    """No OPTIONS metadata (the OpenAPI schema documents the API); never a 500, for any role."""
    owner = member_client(org, Role.OWNER)
    paths = sorted({op.url(org.slug, uuid.uuid4()) for op in v1_operations()})
    for path in paths:
        response = owner.options(path, HTTP_IDEMPOTENCY_KEY=f"options-{uuid.uuid4()}")
        assert response.status_code in (404, 405), f"OPTIONS {path}: {response.status_code}"
        assert response["Content-Type"] == "application/problem+json", path
