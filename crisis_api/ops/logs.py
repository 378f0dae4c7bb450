"""One JSON object per log line, with the request id, organisation and actor of the request (or
of the request that queued the task) bound from the context variables."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from crisis_api.context import context_snapshot

# Attributes every LogRecord has; anything else was passed with `extra=` and is kept.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "message", "request_id", "organisation", "actor", …extra}`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **context_snapshot(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)
