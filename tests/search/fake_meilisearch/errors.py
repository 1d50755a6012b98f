"""The server's error responses: ``{"message", "code", "type", "link"}`` (meilisearch-types/src/error.rs)."""

from __future__ import annotations

from typing import Any

__all__ = ["ApiError", "kind_of"]

_AUTH = {"missing_authorization_header", "invalid_api_key", "missing_master_key"}
_INTERNAL = {"internal", "index_creation_failed", "database_size_limit_reached"}
_SYSTEM = {"too_many_search_requests", "no_space_left_on_device"}


class ApiError(Exception):
    """An error answer (or a failed task's ``error``), with the server's HTTP status, code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        error_type = (
            "auth"
            if self.code in _AUTH
            else "internal"
            if self.code in _INTERNAL
            else "system"
            if self.code in _SYSTEM
            else "invalid_request"
        )
        return {
            "message": self.message,
            "code": self.code,
            "type": error_type,
            "link": f"https://docs.meilisearch.com/errors#{self.code}",
        }


def kind_of(value: Any) -> str:
    """deserr's name of a JSON value's kind, as in "but found a string"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a positive integer" if value >= 0 else "a negative integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
