"""A JSON parser that refuses oversized bodies even when no Content-Length was sent."""

import io
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework import parsers

from crisis_api.api.errors import PayloadTooLarge
from crisis_api.middleware import body_limit


class LimitedJSONParser(parsers.JSONParser):
    """Reads at most the route's limit + 1 bytes (API_MAX_BODY_BYTES; API_INGEST_MAX_BODY_BYTES
    for the inbound push, see `body_limit`); more is a 413, never a memory spike."""

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        request = (parser_context or {}).get("request")
        limit = (
            body_limit(request.path_info)
            if request is not None
            else int(settings.API_MAX_BODY_BYTES)
        )
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        if isinstance(raw, str):
            raw = raw.encode()
        if not raw.strip():
            return {}
        return super().parse(io.BytesIO(raw), media_type, parser_context)
