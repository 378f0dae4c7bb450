"""Serializer building blocks: strict inputs and tenant-scoped foreign keys."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail, NotFound
from rest_framework.fields import empty


class StrictInput(serializers.Serializer[Any]):
    """Input serializer that rejects unknown fields instead of silently dropping them.

    A typo such as `{"rol": "admin"}` is a 400 naming the field, not a no-op success.
    """

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        """Integers are bounded to a 32-bit column unless the field says less: an unbounded
        integer reaching PostgreSQL would be a DataError (a 500), not a 400."""
        fields = super().get_fields()
        for field in fields.values():
            if isinstance(field, serializers.IntegerField):
                _bound_integer(field)
        return fields

    def run_validation(self, data: Any = empty) -> Any:
        """A nested input (a list item, a sub-object) is a whole object: its required fields hold
        even inside a partial update, where DRF would otherwise skip them (every field checks
        the root serializer's `partial`), letting an incomplete item through to the service."""
        root = self.root
        if self.parent is None or not getattr(root, "partial", False):
            return super().run_validation(data)
        root.partial = False
        try:
            return super().run_validation(data)
        finally:
            root.partial = True

    def to_internal_value(self, data: Any) -> Any:
        unknown: dict[str, list[Any]] = {}
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = {
                str(name): [ErrorDetail("Unknown field.", code="unknown_field")]
                for name in sorted(set(data) - writable, key=str)
            }
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if unknown and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **unknown}) from exc
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


INT32_MAX = 2**31 - 1


def _bound_integer(field: serializers.IntegerField) -> None:
    if field.max_value is None:
        field.max_value = INT32_MAX
        message = field.error_messages["max_value"].format(max_value=INT32_MAX)
        field.validators.append(MaxValueValidator(INT32_MAX, message=message))
    if field.min_value is None:
        field.min_value = -INT32_MAX - 1
        message = field.error_messages["min_value"].format(min_value=-INT32_MAX - 1)
        field.validators.append(MinValueValidator(-INT32_MAX - 1, message=message))


class TenantRelatedField(serializers.PrimaryKeyRelatedField[Any]):
    """A foreign key arriving in a body, resolved inside the caller's organisation only.

    An id of another organisation is answered exactly like a missing one: 404.
    """

    lookup = "pk"

    def __init__(
        self,
        model: type[models.Model],
        *,
        limit: Callable[[models.QuerySet[Any], Mapping[str, Any]], models.QuerySet[Any]]
        | None = None,
        **kwargs: Any,
    ) -> None:
        self.model = model
        self.limit = limit
        kwargs.setdefault("queryset", model._base_manager.none())  # schema only; see below
        super().__init__(**kwargs)

    def get_queryset(self) -> models.QuerySet[Any]:
        organisation = self.context["organisation"]
        queryset = self.model._default_manager.filter(organisation=organisation)
        return self.limit(queryset, self.context) if self.limit else queryset

    def value_for(self, obj: models.Model) -> Any:
        """The id a client sends to name `obj` (tests use it to name another tenant's)."""
        return getattr(obj, self.lookup)

    def resolve(self, obj: Any) -> Any:
        return obj

    def to_internal_value(self, data: Any) -> Any:
        try:
            return self.resolve(self.get_queryset().get(**{self.lookup: data}))
        except (ObjectDoesNotExist, ValueError, TypeError, DjangoValidationError) as exc:
            raise NotFound(f"{self.field_name}: no such {self.model._meta.verbose_name}.") from exc


class MemberField(TenantRelatedField):
    """A user named by id who must be a member of the caller's organisation; yields the User."""

    lookup = "user_id"

    def __init__(self, **kwargs: Any) -> None:
        from organisations.models import Membership

        super().__init__(Membership, **kwargs)

    def resolve(self, obj: Any) -> Any:
        return obj.user

    def get_queryset(self) -> models.QuerySet[Any]:
        return super().get_queryset().select_related("user")

    def to_representation(self, value: Any) -> Any:
        return str(value.pk)
