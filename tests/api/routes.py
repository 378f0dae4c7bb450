"""Every operation of the v1 API, discovered from the URLconf the way the OpenAPI generator sees
it, so suites that walk the routes cover new endpoints without edits."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from drf_spectacular.generators import SchemaGenerator
from rest_framework import serializers

from crisis_api.api.access import Access
from crisis_api.api.serializers import TenantRelatedField


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # OpenAPI template, e.g. /api/v1/orgs/{org}/members/{id}/
    action: str
    viewset: type[Any]
    request_serializer: Any

    @property
    def is_tenant(self) -> bool:
        return "{org}" in self.path

    @property
    def is_detail(self) -> bool:
        return "{id}" in self.path

    @property
    def access(self) -> Access:
        return self.viewset.access[self.action]  # type: ignore[no-any-return]

    def url(self, org: str, pk: Any = None) -> str:
        return self.path.replace("{org}", org).replace("{id}", str(pk))

    def tenant_fk_fields(self) -> dict[str, TenantRelatedField]:
        """Tenant foreign keys the operation accepts in its body (alone or in a list)."""
        serializer = self.request_serializer
        if serializer is None:
            return {}
        if isinstance(serializer, type):
            serializer = serializer()
        if not isinstance(serializer, serializers.Serializer):
            return {}
        found: dict[str, TenantRelatedField] = {}
        for name, field in serializer.fields.items():
            child = getattr(field, "child_relation", None) or getattr(field, "child", None) or field
            if isinstance(child, TenantRelatedField):
                found[name] = child
        return found

    def fk_body_value(self, name: str, value: Any) -> Any:
        """How a body names one object in this field: as is, or inside a list."""
        serializer = self.request_serializer
        if isinstance(serializer, type):
            serializer = serializer()
        field = serializer.fields[name]
        return [value] if isinstance(field, serializers.ListField) else value

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@cache
def v1_operations() -> tuple[Operation, ...]:
    generator = SchemaGenerator()
    generator._initialise_endpoints()
    operations = []
    for path, path_regex, method, callback in generator.endpoints:
        cls = getattr(callback, "cls", None)
        actions = getattr(callback, "actions", None)
        if cls is None or not actions or not hasattr(cls, "access"):
            continue
        view = generator.create_view(callback, method)
        schema = view.schema
        schema.method, schema.path, schema.path_regex, schema.view = method, path, path_regex, view
        request_serializer = (
            schema.get_request_serializer() if method in ("POST", "PATCH", "PUT") else None
        )
        path = path.replace("{pk}", "{id}")
        operations.append(Operation(method, path, actions[method.lower()], cls, request_serializer))
    return tuple(operations)


def tenant_operations() -> list[Operation]:
    return [op for op in v1_operations() if op.is_tenant]
