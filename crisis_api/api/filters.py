"""Query-string filters that name another tenant-owned object: resolved in the caller's
organisation only, and a foreign or unknown id answers 404 like a foreign object in a URL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.db.models import QuerySet
from django_filters.fields import IsoDateTimeField
from rest_framework.exceptions import NotFound


class TenantModelChoiceFilter(django_filters.Filter):
    """`?owner=<id>` where the id must name an object of the request's organisation.

    Subclasses narrow `candidates` (e.g. to incidents the caller may see) or look the value
    up by another column (`lookup`, e.g. a member by user id)."""

    lookup = "pk"
    noun = ""

    def __init__(self, model: type[models.Model], **kwargs: Any) -> None:
        self.target_model = model  # not `model`: django-filter sets that to the FilterSet's
        super().__init__(**kwargs)

    def candidates(self, request: Any, organisation: Any) -> QuerySet[Any]:
        return self.target_model._default_manager.filter(organisation=organisation)

    def filter(self, qs: QuerySet[Any], value: Any) -> QuerySet[Any]:
        if value in (None, ""):
            return qs
        request = getattr(getattr(self, "parent", None), "request", None)
        organisation = getattr(request, "tenant_organisation", None)
        if organisation is None:
            raise NotFound()
        try:
            target = self.candidates(request, organisation).get(**{self.lookup: value})
        except (ObjectDoesNotExist, ValueError, TypeError, DjangoValidationError) as exc:
            noun = self.noun or self.target_model._meta.verbose_name
            raise NotFound(f"{self.field_name}: no such {noun}.") from exc
        return self.apply(qs, target)

    def apply(self, qs: QuerySet[Any], target: Any) -> QuerySet[Any]:
        """Narrow the queryset to `target` (subclasses follow links other than one column)."""
        return qs.filter(**{str(self.field_name): getattr(target, self.lookup)})


class UtcIsoDateTimeField(IsoDateTimeField):
    """ISO 8601 with any offset Python accepts, handed to the database in UTC: PostgreSQL refuses
    offsets beyond ±15:59 (a 500 otherwise), and a value that leaves the calendar is a 400."""

    def to_python(self, value: Any) -> datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except OverflowError as exc:
            raise DjangoValidationError("Enter a date/time within years 1 to 9999.") from exc


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """The project's date/time filter: ISO 8601, compared in UTC."""

    field_class = UtcIsoDateTimeField
