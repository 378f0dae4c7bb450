"""Assertions shared by the suites: an RFC 9457 problem document with the expected status."""

from __future__ import annotations

from typing import Any

from rest_framework.response import Response


def assert_problem(response: Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "instance", "code"} <= set(body)
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code
    return body
