"""CSV exports: report sections as tables, and the incident list streamed from a server-side
cursor in chunks, so memory stays flat however long the range."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from rest_framework import renderers

from incidents.models import Incident
from incidents.selectors import incident_visible, incidents_for_metrics
from organisations.models import Organisation, User
from reports.selectors import ReportRange

CHUNK_ROWS = 2_000
# Spreadsheets run a cell starting with these as a formula (CSV injection); such text cells
# get a leading apostrophe, which spreadsheets show as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# The list in each section that becomes the CSV's rows; sections without one become
# `figure,value` rows.
SECTION_TABLES = {
    "incidents": "by_crisis_type_and_severity",
    "approvals": "steps",
    "signals": "rules",
    "sentiment-recovery": "incidents",
    "mentions": "days",
}


class CSVRenderer(renderers.BaseRenderer):
    """Lets `?format=csv` / `Accept: text/csv` through content negotiation. Successful CSV
    answers are streamed by the views themselves; what reaches this renderer is a problem
    document (an error), which is rendered as JSON."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        return renderers.JSONRenderer().render(data, "application/json", renderer_context)


def cell(value: Any) -> Any:
    """A CSV cell: None as empty, datetimes in ISO 8601 UTC, formula-looking text defused."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_chunks(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    """Encode rows as CSV, yielding one chunk per CHUNK_ROWS rows (never the whole file)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for count, row in enumerate(rows, start=1):
        writer.writerow([cell(value) for value in row])
        if count % CHUNK_ROWS == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, inner in value.items():
            flat.update(_flatten(inner, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): value}


def section_table(name: str, data: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """A report section as a header and rows: its table, or its figures as `figure,value`."""
    key = SECTION_TABLES.get(name)
    if key is None:
        flat = _flatten(data)
        return ["figure", "value"], [[figure, value] for figure, value in flat.items()]
    rows = [_flatten(item) for item in data[key]]
    header: list[str] = []
    for row in rows:
        header += [column for column in row if column not in header]
    return header, [[row.get(column) for column in header] for row in rows]


INCIDENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("reference", "number"),
    ("title", "title"),
    ("status", "status"),
    ("severity", "severity__name"),
    ("severity_rank", "severity__rank"),
    ("crisis_type", "crisis_type__slug"),
    ("visibility", "visibility"),
    ("source", "source"),
    ("is_drill", "is_drill"),
    ("commander", "commander__email"),
    ("created_at", "created_at"),
    ("declared_at", "declared_at"),
    ("contained_at", "contained_at"),
    ("resolved_at", "resolved_at"),
    ("closed_at", "closed_at"),
    ("last_public_update_at", "last_public_update_at"),
    ("id", "id"),
)


def incident_export_rows(
    *,
    report: ReportRange,
    organisation: Organisation,
    user: User | None,
    role: str | None,
    include_drills: bool = False,
) -> QuerySet[Incident, tuple[Any, ...]]:
    """The incidents opened in the range the caller may see, oldest first, as tuples in
    INCIDENT_COLUMNS order. Lazy: the response iterates it through a server-side cursor."""
    queryset = Incident.all_tenants.filter(
        organisation=organisation, created_at__gte=report.start, created_at__lt=report.end
    )
    if not include_drills:
        queryset = incidents_for_metrics(queryset)
    if report.crisis_type_id:
        queryset = queryset.filter(crisis_type_id=report.crisis_type_id)
    if report.severity_id:
        queryset = queryset.filter(severity_id=report.severity_id)
    queryset = incident_visible(queryset, user=user, role=role)
    return queryset.order_by("created_at", "number").values_list(
        *(field for _, field in INCIDENT_COLUMNS)
    )


def incident_csv(rows: QuerySet[Incident, tuple[Any, ...]]) -> Iterator[bytes]:
    """The incident list as CSV chunks, fetched CHUNK_ROWS at a time."""

    def lines() -> Iterator[list[Any]]:
        for row in rows.iterator(chunk_size=CHUNK_ROWS):
            values = list(row)
            values[0] = f"INC-{values[0]}"
            yield values

    return csv_chunks([name for name, _ in INCIDENT_COLUMNS], lines())
