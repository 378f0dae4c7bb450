"""Cursor pagination with a validated `limit` (1..100): stable under inserts, no COUNT(*)."""

from typing import Any

from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

MAX_LIMIT = 100


class CursorPagination(pagination.CursorPagination):
    """Opaque `cursor`, `limit` ≤ 100; a bad cursor or limit is a 400, not a silent default."""

    page_size = 25
    max_page_size = MAX_LIMIT
    page_size_query_param = "limit"
    ordering = ("-created_at", "-pk")
    invalid_cursor_message = "The cursor is not valid; use the `next`/`previous` links as given."

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
            raise ValidationError({"limit": [f"Must be an integer from 1 to {MAX_LIMIT}."]})
        return int(raw)

    def decode_cursor(self, request: Request) -> Any:
        try:
            return super().decode_cursor(request)
        except Exception as exc:  # DRF raises NotFound; a malformed cursor is the client's 400
            raise ValidationError({"cursor": [self.invalid_cursor_message]}) from exc
