"""Cursor pagination: ``?limit=&cursor=`` in, ``{items, next_cursor}`` out.

A cursor is an opaque url-safe token encoding the sort key of the last item returned (keyset pagination),
so pages stay stable while rows are inserted and deep pages cost the same as the first.
"""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from shared.errors import ValidationFailed

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "Cursor", "Limit", "Page", "decode_cursor", "encode_cursor"]

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

T = TypeVar("T")

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Page size, 1 to {MAX_LIMIT}.")]
Cursor = Annotated[
    str | None,
    Query(max_length=512, description="The `next_cursor` of the previous page; omit for the first."),
]


class Page(BaseModel, Generic[T]):
    """One page of a list."""

    items: list[T]
    next_cursor: str | None = None


def encode_cursor(*values: Any) -> str:
    """Encode the sort key of the last item of a page."""
    raw = json.dumps(list(values), separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, arity: int) -> list[Any]:
    """Decode a cursor made by :func:`encode_cursor`; a tampered or foreign cursor is a 422 on ``cursor``."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed.field("cursor", "not a cursor returned by this list", type="cursor_invalid") from exc
    if not isinstance(values, list) or len(values) != arity:
        raise ValidationFailed.field("cursor", "not a cursor returned by this list", type="cursor_invalid")
    return values
