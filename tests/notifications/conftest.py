import socket
from typing import Any

import pytest

from tests.notifications.stub import receiver, smtp_sink

__all__ = ["receiver", "smtp_sink"]

_real_getaddrinfo = socket.getaddrinfo


@pytest.fixture(autouse=True)
def _public_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """`*.example.com` resolves to a public address (nothing leaves: pytest-socket blocks it)."""

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.rstrip(".").endswith("example.com"):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port or 443))]
        return _real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
