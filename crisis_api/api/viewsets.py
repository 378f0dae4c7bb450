"""The tenant base viewset: resolves organisation and caller once, scopes every query, checks
the declared access of the action, and makes another tenant's objects indistinguishable from
missing ones (404)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from django.db import models
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, viewsets
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from crisis_api.api.access import Access
from crisis_api.api.errors import PermissionDeniedError
from crisis_api.api.idempotency import IdempotentDispatchMixin
from crisis_api.context import context_bind
from crisis_api.tenancy import activate_tenant_scope
from organisations.events import Actor
from organisations.models import ApiKey, Membership, Organisation

PAGINATION_PARAMS = frozenset({"cursor", "limit"})
UUID_PATTERN = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
ORG_PATTERN = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description='The ETag of the version you edited (e.g. `"3"`); a stale one gets 412.',
)
_IF_MATCH = re.compile(r'^(?:W/)?"(\d+)"$')


class OrganisationSuspendedError(PermissionDeniedError):
    code = "organisation_suspended"


def access_allows(access: Access, *, role: str | None, api_key: ApiKey | None) -> bool:
    """True when the member's role, or the key's scopes, satisfy the declaration."""
    if api_key is not None:
        return access.scope is not None and access.scope in api_key.scopes
    return role is not None and role in access.roles


class DeclaredAccessPermission(BasePermission):
    """Grants exactly what the view's `access[action]` declares (roles or API-key scope)."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not (request.user.is_authenticated or isinstance(request.auth, ApiKey)):
            raise exceptions.NotAuthenticated()
        action: str | None = getattr(view, "action", None)
        if action is None:  # a method the viewset does not route: let DRF answer 405
            return True
        resolve = getattr(view, "resolve_tenant", None)
        if resolve is not None:
            resolve(request)
        access: Access | None = view.access.get(action)  # type: ignore[attr-defined]
        if access is None:  # e.g. OPTIONS ("metadata"), which no viewset serves: a 405
            return True
        role = view.membership.role if getattr(view, "membership", None) else None  # type: ignore[attr-defined]
        api_key = request.auth if isinstance(request.auth, ApiKey) else None
        if resolve is None and api_key is None:
            return True  # user-level endpoints: any authenticated user
        if access_allows(access, role=role, api_key=api_key):
            return True
        holds = getattr(view, "holds_incident_role", None)
        return bool(
            access.incident_roles
            and api_key is None
            and holds is not None
            and holds(request.user, access.incident_roles)
        )


class TenantViewSet(IdempotentDispatchMixin, viewsets.GenericViewSet):  # type: ignore[type-arg]
    """Base of every `/api/v1/orgs/{org}/…` viewset.

    Subclasses set `model`, `access` (one entry per action) and serializers; they get
    `self.organisation`, `self.membership` (None for API keys), `self.api_key` and `self.actor`.
    """

    model: ClassVar[type[models.Model]]
    access: ClassVar[Mapping[str, Access]]
    permission_classes = (DeclaredAccessPermission,)
    lookup_value_regex = UUID_PATTERN
    http_method_names = ["get", "post", "patch", "delete", "head"]

    organisation: Organisation
    membership: Membership | None
    api_key: ApiKey | None
    actor: Actor

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        model = cls.__dict__.get("model")
        if model is not None:  # for schema generation and django-filter; never queried
            cls.queryset = model._base_manager.none()

    def resolve_tenant(self, request: Request) -> None:
        """Find the organisation and the caller's standing in it; 404 if they have none."""
        if hasattr(self, "organisation"):
            return
        slug = self.kwargs.get("org", "")
        auth = request.auth
        if isinstance(auth, ApiKey):
            if auth.organisation.slug != slug:
                raise exceptions.NotFound()
            organisation, membership, api_key = auth.organisation, None, auth
            actor = Actor.of_api_key(auth)
        else:
            membership = (
                Membership.all_tenants.select_related("organisation", "user")
                .filter(organisation__slug=slug, user_id=str(request.user.pk))
                .first()
            )
            if membership is None:
                raise exceptions.NotFound()
            organisation, api_key = membership.organisation, None
            actor = Actor.of_user(membership.user)
        if organisation.is_suspended:
            raise OrganisationSuspendedError(
                "This organisation is suspended; contact support.",
            )
        activate_tenant_scope(organisation.pk)
        request.tenant_organisation = organisation  # type: ignore[attr-defined]  # for filters
        context_bind(organisation=organisation.slug, actor=f"{actor.type}:{actor.id}")
        self.organisation, self.membership, self.api_key, self.actor = (
            organisation,
            membership,
            api_key,
            actor,
        )

    @property
    def role(self) -> str | None:
        return self.membership.role if self.membership else None

    def get_queryset(self) -> models.QuerySet[Any]:
        """The one place tenant rows are fetched: scoped manager plus an explicit filter."""
        queryset = self.model._default_manager.filter(organisation=self.organisation)
        return self.scope_queryset(queryset)

    def scope_queryset(self, queryset: models.QuerySet[Any]) -> models.QuerySet[Any]:
        """Hook for select_related/prefetch and per-caller visibility rules."""
        return queryset

    def filter_queryset(self, queryset: models.QuerySet[Any]) -> models.QuerySet[Any]:
        """Run the filter backends only when the query string asks for a filter: building a
        FilterSet (deep copies of every filter and a form) costs more than the page query."""
        if not set(self.request.query_params) - PAGINATION_PARAMS:
            return queryset
        return super().filter_queryset(queryset)

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        if hasattr(self, "organisation"):
            context.update(
                organisation=self.organisation,
                actor=self.actor,
                role=self.role,
                user=self.membership.user if self.membership else None,
            )
        return context


def expected_version(request: Request) -> int | None:
    """The version named by If-Match (`"3"`), None when absent or `*`; 400 when malformed."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    match = _IF_MATCH.match(header.strip())
    if match is None:
        raise exceptions.ValidationError({"If-Match": ['Send the ETag as given, e.g. "3".']})
    return int(match.group(1))
