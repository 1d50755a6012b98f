"""Assertions on RFC 9457 problem responses, shared by every service's tests."""

from __future__ import annotations

from typing import Any

import httpx

__all__ = ["assert_problem", "error_fields"]


def error_fields(body: dict[str, Any]) -> list[str]:
    """The field paths named by a problem's errors."""
    return [str(e["field"]) for e in body.get("errors", [])]


def assert_problem(
    response: httpx.Response, status: int, field: str | None = None, *, traced: bool = False
) -> dict[str, Any]:
    """The response is a problem+json of ``status`` (naming ``field`` when given); returns its body.

    ``traced`` also checks that the problem names the request: its path (``instance``) and the X-Request-ID.
    """
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert str(body["type"]).startswith("urn:techmarket:problem:")
    assert body["title"]
    if field is not None:
        assert field in error_fields(body), body
    if traced:
        assert body["instance"]
        assert body["request_id"] == response.headers["x-request-id"]
    return body
