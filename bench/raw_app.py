"""The data floor of `bench/api_read.py`: the two list endpoints as a bare WSGI app.

It does the product's work without Django or DRF, so the benchmark's ratio shows what the
framework stack costs on top of the database and JSON work that any implementation must do:

* the app token: the product's SELECT (token joined to its user, by prefix), a constant-time
  SHA-256 comparison, revoked / expired / inactive checks, and the `last_used_at` UPDATE only
  when the stored value is older than a minute (the product's `_touch` has the same effect but
  sends its UPDATE on every request);
* the membership in the organisation named by the slug, with the product's SELECT;
* the page: the product's SELECT text (captured from Django), the same dict per row, the same
  cursor (`next` link), and compact `json.dumps` like DRF's renderer (stdlib json, no orjson).

Rate limiting, request ids, security headers and sessions are not done here: they are part of
the framework stack whose cost the ratio measures. One persistent psycopg connection per worker
process, with client-side parameter binding as Django uses it (`ClientCursor`, no prepared
statements), in autocommit like Django's default.

Served by gunicorn with the same options as the product: `gunicorn --pythonpath bench raw_app`.
Only `DATABASE_URL` is read from the environment.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import psycopg

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
Row = tuple[Any, ...]
Page = tuple[list[dict[str, Any]], str | None, str]

MAX_LIMIT = 100
DEFAULT_LIMIT = 25
LAST_USED_RESOLUTION = timedelta(minutes=1)
ROUTE = re.compile(
    r"^/api/v1/orgs/(?P<slug>[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)/(?P<what>events|members)/$"
)

# The statements below are the text Django sends for these requests (bench/api_read_django.py
# captures and prints it), with the literals turned into parameters.
TOKEN_SQL = (
    'SELECT "organisations_authtoken"."id", "organisations_authtoken"."user_id", '
    '"organisations_authtoken"."name", "organisations_authtoken"."prefix", '
    '"organisations_authtoken"."key_hash", "organisations_authtoken"."created_at", '
    '"organisations_authtoken"."expires_at", "organisations_authtoken"."last_used_at", '
    '"organisations_authtoken"."revoked_at", "organisations_user"."password", '
    '"organisations_user"."last_login", "organisations_user"."is_superuser", '
    '"organisations_user"."id", "organisations_user"."email", "organisations_user"."full_name", '
    '"organisations_user"."is_active", "organisations_user"."is_staff", '
    '"organisations_user"."date_joined" FROM "organisations_authtoken" '
    'INNER JOIN "organisations_user" '
    'ON ("organisations_authtoken"."user_id" = "organisations_user"."id") '
    'WHERE "organisations_authtoken"."prefix" = %s '
    'ORDER BY "organisations_authtoken"."created_at" DESC LIMIT 1'
)
TOUCH_SQL = (
    'UPDATE "organisations_authtoken" SET "last_used_at" = %s '
    'WHERE ("organisations_authtoken"."id" = %s AND '
    '("organisations_authtoken"."last_used_at" IS NULL OR '
    '"organisations_authtoken"."last_used_at" < %s))'
)
MEMBERSHIP_SQL = (
    'SELECT "organisations_membership"."organisation_id", "organisations_membership"."id", '
    '"organisations_membership"."user_id", "organisations_membership"."role", '
    '"organisations_membership"."created_at", "organisations_membership"."updated_at", '
    '"organisations_organisation"."id", "organisations_organisation"."slug", '
    '"organisations_organisation"."name", "organisations_organisation"."plan", '
    '"organisations_organisation"."max_members", "organisations_organisation"."max_api_keys", '
    '"organisations_organisation"."max_sources", '
    '"organisations_organisation"."sms_monthly_cap", '
    '"organisations_organisation"."email_monthly_cap", '
    '"organisations_organisation"."mention_retention_days", '
    '"organisations_organisation"."suspended_at", '
    '"organisations_organisation"."suspended_reason", '
    '"organisations_organisation"."created_at" FROM "organisations_membership" '
    'INNER JOIN "organisations_organisation" '
    'ON ("organisations_membership"."organisation_id" = "organisations_organisation"."id") '
    'WHERE ("organisations_organisation"."slug" = %s AND '
    '"organisations_membership"."user_id" = %s) '
    'ORDER BY "organisations_membership"."created_at" ASC, '
    '"organisations_membership"."id" ASC LIMIT 1'
)
EVENTS_SQL = (
    'SELECT "organisations_event"."id", "organisations_event"."organisation_id", '
    '"organisations_event"."seq", "organisations_event"."type", '
    '"organisations_event"."occurred_at", "organisations_event"."actor_type", '
    '"organisations_event"."actor_id", "organisations_event"."actor_label", '
    '"organisations_event"."subject_type", "organisations_event"."subject_id", '
    '"organisations_event"."payload", "organisations_event"."request_id", '
    '"organisations_event"."prev_hash", "organisations_event"."hash", '
    '"organisations_event"."dispatched_at" FROM "organisations_event" '
    'WHERE ("organisations_event"."organisation_id" = %s AND '
    '"organisations_event"."organisation_id" = %s{after}) '
    'ORDER BY "organisations_event"."seq" DESC LIMIT %s'
)
EVENTS_AFTER = ' AND "organisations_event"."seq" < %s'
MEMBERS_SQL = (
    'SELECT "organisations_membership"."organisation_id", "organisations_membership"."id", '
    '"organisations_membership"."user_id", "organisations_membership"."role", '
    '"organisations_membership"."created_at", "organisations_membership"."updated_at", '
    '"organisations_user"."password", "organisations_user"."last_login", '
    '"organisations_user"."is_superuser", "organisations_user"."id", '
    '"organisations_user"."email", "organisations_user"."full_name", '
    '"organisations_user"."is_active", "organisations_user"."is_staff", '
    '"organisations_user"."date_joined" FROM "organisations_membership" '
    'INNER JOIN "organisations_user" '
    'ON ("organisations_membership"."user_id" = "organisations_user"."id") '
    'WHERE ("organisations_membership"."organisation_id" = %s AND '
    '"organisations_membership"."organisation_id" = %s{after}) '
    'ORDER BY "organisations_membership"."created_at" DESC, '
    '"organisations_membership"."id" DESC LIMIT %s'
)
MEMBERS_AFTER = ' AND "organisations_membership"."created_at" < %s'
QUERIES: dict[str, bytes] = {
    "token": TOKEN_SQL.encode(),
    "touch": TOUCH_SQL.encode(),
    "membership": MEMBERSHIP_SQL.encode(),
    "events": EVENTS_SQL.format(after="").encode(),
    "events_after": EVENTS_SQL.format(after=EVENTS_AFTER).encode(),
    "members": MEMBERS_SQL.format(after="").encode(),
    "members_after": MEMBERS_SQL.format(after=MEMBERS_AFTER).encode(),
}
EVENT_READERS = frozenset({"owner", "admin", "crisis_manager", "analyst"})


class HttpError(Exception):
    def __init__(self, status: str, code: str) -> None:
        super().__init__(code)
        self.status, self.code = status, code


_connection: psycopg.Connection[Row] | None = None


def db() -> psycopg.Connection[Row]:
    """This worker's connection, opened on first use (after gunicorn forked the worker)."""
    global _connection
    if _connection is None or _connection.closed:
        _connection = psycopg.connect(
            os.environ["DATABASE_URL"],
            autocommit=True,
            cursor_factory=psycopg.ClientCursor,
            options="-c TimeZone=UTC",
            connect_timeout=5,
        )
    return _connection


def fetch(query: str, params: tuple[Any, ...]) -> list[Row]:
    with db().cursor() as cursor:
        cursor.execute(QUERIES[query], params)
        return cursor.fetchall()


def execute(query: str, params: tuple[Any, ...]) -> None:
    with db().cursor() as cursor:
        cursor.execute(QUERIES[query], params)


def authenticate(header: str) -> Row:
    """The app token's row (token columns, then its user's) or a 401."""
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        raise HttpError("401 Unauthorized", "not_authenticated")
    raw = parts[1]
    pieces = raw.split("_", 2)
    if len(pieces) != 3 or len(pieces[1]) != 12 or not pieces[2] or pieces[0] != "crt":
        raise HttpError("401 Unauthorized", "malformed")
    rows = fetch("token", (pieces[1],))
    digest = hashlib.sha256(raw.encode()).hexdigest()
    if not rows or not hmac.compare_digest(digest, rows[0][4]):
        raise HttpError("401 Unauthorized", "invalid_token")
    token = rows[0]
    now = datetime.now(UTC)
    if token[8] is not None or token[6] <= now:
        raise HttpError("401 Unauthorized", "token_expired")
    if not token[15]:
        raise HttpError("401 Unauthorized", "user_inactive")
    if token[7] is None or token[7] < now - LAST_USED_RESOLUTION:
        execute("touch", (now, token[0], now - LAST_USED_RESOLUTION))
    return token


def membership(slug: str, user_id: Any) -> Row:
    rows = fetch("membership", (slug, user_id))
    if not rows:
        raise HttpError("404 Not Found", "not_found")
    if rows[0][16] is not None:
        raise HttpError("403 Forbidden", "organisation_suspended")
    return rows[0]


def page_limit(query: dict[str, list[str]]) -> int:
    values = query.get("limit")
    if not values:
        return DEFAULT_LIMIT
    raw = values[-1]
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise HttpError("400 Bad Request", "invalid_limit")
    return int(raw)


def cursor_position(query: dict[str, list[str]]) -> str | None:
    """The `p` of a forward cursor as DRF encodes it (base64 of `p=…`); other cursors are 400."""
    values = query.get("cursor")
    if not values:
        return None
    try:
        tokens = parse_qs(base64.b64decode(values[-1].encode("ascii")).decode("ascii"))
    except ValueError as exc:
        raise HttpError("400 Bad Request", "invalid_cursor") from exc
    if set(tokens) != {"p"}:
        raise HttpError("400 Bad Request", "invalid_cursor")
    return tokens["p"][0]


def cursor_link(base_url: str, position: str, *, reverse: bool = False) -> str:
    """DRF's `encode_cursor` + `replace_query_param` for a cursor at a unique `position`."""
    scheme, netloc, path, query, _ = urlsplit(base_url)
    params = parse_qs(query, keep_blank_values=True)
    tokens = {"r": "1", "p": position} if reverse else {"p": position}
    params["cursor"] = [base64.b64encode(urlencode(tokens).encode("ascii")).decode("ascii")]
    return f"{scheme}://{netloc}{path}?{urlencode(sorted(params.items()), doseq=True)}"


def iso(value: datetime) -> str:
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def events_page(org_id: Any, limit: int, after: str | None) -> Page:
    """(results, position after the page or None, position of the first row)."""
    if after is None:
        rows = fetch("events", (org_id, org_id, limit + 1))
    else:
        rows = fetch("events_after", (org_id, org_id, int(after), limit + 1))
    results = [
        {
            "id": str(row[0]),
            "seq": row[2],
            "type": row[3],
            "occurred_at": row[4].isoformat().replace("+00:00", "Z"),
            "actor": {"type": row[5], "id": row[6], "label": row[7]},
            "subject": {"type": row[8], "id": row[9]},
            "payload": row[10],
            "request_id": row[11],
            "prev_hash": row[12],
            "hash": row[13],
        }
        for row in rows[:limit]
    ]
    following = str(rows[limit - 1][2]) if len(rows) > limit else None
    return results, following, str(rows[0][2]) if rows else ""


def members_page(org_id: Any, limit: int, after: str | None) -> Page:
    if after is None:
        rows = fetch("members", (org_id, org_id, limit + 1))
    else:
        rows = fetch("members_after", (org_id, org_id, datetime.fromisoformat(after), limit + 1))
    results = [
        {
            "id": str(row[1]),
            "user": {"id": str(row[9]), "email": row[10], "full_name": row[11]},
            "role": row[3],
            "created_at": iso(row[4]),
            "updated_at": iso(row[5]),
        }
        for row in rows[:limit]
    ]
    following = str(rows[limit - 1][4]) if len(rows) > limit else None
    return results, following, str(rows[0][4]) if rows else ""


def handle(environ: dict[str, Any]) -> dict[str, Any]:
    if environ.get("REQUEST_METHOD") not in {"GET", "HEAD"}:
        raise HttpError("405 Method Not Allowed", "method_not_allowed")
    route = ROUTE.match(environ.get("PATH_INFO", ""))
    if route is None:
        raise HttpError("404 Not Found", "not_found")
    token = authenticate(environ.get("HTTP_AUTHORIZATION", ""))
    member = membership(route["slug"], token[12])
    if route["what"] == "events" and member[3] not in EVENT_READERS:
        raise HttpError("403 Forbidden", "permission_denied")
    query_string = environ.get("QUERY_STRING", "")
    query = parse_qs(query_string, keep_blank_values=True)
    limit = page_limit(query)
    after = cursor_position(query)
    page = events_page if route["what"] == "events" else members_page
    results, following, first = page(member[0], limit, after)
    scheme = "https" if environ.get("HTTP_X_FORWARDED_PROTO") == "https" else "http"
    base_url = f"{scheme}://{environ.get('HTTP_HOST', '')}{environ['PATH_INFO']}"
    if query_string:
        base_url += f"?{query_string}"
    return {
        "next": cursor_link(base_url, following) if following is not None else None,
        "previous": cursor_link(base_url, first, reverse=True) if after and results else None,
        "results": results,
    }


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    try:
        status, document = "200 OK", handle(environ)
    except HttpError as exc:
        status, document = exc.status, {"status": int(exc.status[:3]), "code": exc.code}
    except psycopg.OperationalError:
        global _connection
        _connection = None  # reconnect on the next request
        raise
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
