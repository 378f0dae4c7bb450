"""Bulk inserts of plain values, without building a model instance per row.

`bulk_create` prepares every field of every instance in Python (about 0.1 ms per row for a
20-field model): for the relay's 10,000-row fan-outs that was most of the planning time. Here
the varying columns travel as one PostgreSQL array each, every other field takes its model
default (evaluated once; a callable primary-key default once per row), and the rows are
inserted by one `INSERT … SELECT … FROM unnest(…)` statement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connection as default_connection
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper


def insert_columns(
    model: type[models.Model],
    columns: Mapping[str, Sequence[Any]],
    *,
    ignore_conflicts: bool = False,
    db: BaseDatabaseWrapper | None = None,
) -> int:
    """Insert one row per position of `columns` (attribute name → values, equal lengths);
    returns how many rows were inserted (conflicting rows are skipped with `ignore_conflicts`).
    `db` is the connection to use (default: this thread's default connection).

    Values go to the driver as they are, so they must be what psycopg adapts natively (UUIDs,
    aware datetimes, str, int, None: foreign keys by their `_id` attribute name)."""
    lengths = {len(values) for values in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns of different lengths: {sorted(lengths)}")
    count = lengths.pop() if lengths else 0
    if not count:
        return 0
    connection = db or default_connection
    known = {field.attname for field in model._meta.concrete_fields}
    if unknown := set(columns) - known:
        raise ValueError(f"{model.__name__} has no fields {sorted(unknown)}")
    quote = connection.ops.quote_name
    names: list[str] = []
    arrays: list[str] = []
    outputs: list[str] = []
    constants: list[Any] = []
    vectors: list[list[Any]] = []
    for field in model._meta.concrete_fields:
        db_type = field.db_type(connection)
        names.append(quote(str(field.column)))
        if field.attname in columns:
            values: Sequence[Any] = columns[field.attname]
        elif field.primary_key and field.has_default():
            values = [field.get_default() for _ in range(count)]
        else:
            outputs.append(f"%s::{db_type}")
            constants.append(field.get_db_prep_save(field.get_default(), connection))
            continue
        arrays.append(f"%s::{db_type}[]")
        outputs.append(f"u.c{len(arrays)}")
        vectors.append(list(values))
    aliases = ", ".join(f"c{i}" for i in range(1, len(arrays) + 1))
    # Identifiers come from the model's metadata (quoted); every value is a bound parameter.
    table = quote(model._meta.db_table)
    source = f"unnest({', '.join(arrays)}) AS u({aliases})"
    select = f"SELECT {', '.join(outputs)} FROM {source}"  # noqa: S608
    sql = f"INSERT INTO {table} ({', '.join(names)}) {select}"
    if ignore_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*constants, *vectors])
        return int(cursor.rowcount)
