"""Assertions and small factories shared by the market tests."""

from __future__ import annotations

from typing import Any

import httpx

__all__ = ["assert_problem"]


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is a problem+json of ``status``; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert str(body["type"]).startswith("urn:techmarket:problem:")
    assert body["title"]
    return body
