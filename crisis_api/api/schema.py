"""OpenAPI generation: each operation documents its access rule, the Idempotency-Key header on
POST, and its problem-document error responses."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem document.",
    "properties": {
        "type": {"type": "string", "format": "uri-reference"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "code": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "attr": {"type": ["string", "null"]},
                    "code": {"type": "string"},
                    "detail": {"type": "string"},
                },
                "required": ["attr", "code", "detail"],
            },
        },
    },
    "required": ["type", "title", "status", "detail"],
}

ERRORS_BY_METHOD = {
    "get": ("400", "401", "403", "404", "429"),
    "head": (),
    "post": ("400", "401", "403", "404", "409", "413", "415", "422", "429"),
    "patch": ("400", "401", "403", "404", "409", "413", "415", "429"),
    "put": ("400", "401", "403", "404", "409", "413", "415", "429"),
    "delete": ("401", "403", "404", "409", "429"),
}


class AutoSchema(openapi.AutoSchema):
    """Adds the declared roles/scope to each description, and Idempotency-Key to POSTs."""

    def get_description(self) -> str:  # type: ignore[override]  # drf-spectacular's signature
        description = super().get_description() or ""
        declared = getattr(self.view, "access", None)
        action = getattr(self.view, "action", None)
        if declared and action in declared:
            access = declared[action]
            roles = ", ".join(sorted(access.roles))
            scope = f"`{access.scope}`" if access.scope else "not available to API keys"
            description += f"\n\n**Roles:** {roles}. **API-key scope:** {scope}."
        return description.strip()

    def get_override_parameters(self) -> list[Any]:
        parameters = list(super().get_override_parameters())
        if self.method == "POST":
            parameters.append(
                OpenApiParameter(
                    "Idempotency-Key",
                    OpenApiTypes.STR,
                    OpenApiParameter.HEADER,
                    description=(
                        "Repeating a POST with the same key replays its first response for "
                        f"{settings.IDEMPOTENCY_TTL_HOURS} h (docs/api.md)."
                    ),
                )
            )
        return parameters


def add_problem_responses(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Postprocessing hook: every operation lists its error statuses as problem documents."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    ref = {"$ref": "#/components/schemas/Problem"}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for code in ERRORS_BY_METHOD.get(method, ()):
                responses.setdefault(
                    code,
                    {
                        "description": "Problem document (RFC 9457).",
                        "content": {"application/problem+json": {"schema": ref}},
                    },
                )
    return result


class BearerScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "organisations.authentication.BearerAuthentication"
    name = "bearer"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key (`cak_…`) or an app token (`crt_…`).",
        }


class SessionScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "organisations.authentication.SessionAuthentication"
    name = "session"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}


__all__ = [
    "AutoSchema",
    "BearerScheme",
    "SessionScheme",
    "add_problem_responses",
]
