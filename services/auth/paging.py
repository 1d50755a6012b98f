"""Keyset cursors over UUIDv7 ids, shared by the auth service's lists."""

from __future__ import annotations

import uuid

from shared.errors import ValidationFailed
from shared.pagination import decode_cursor

__all__ = ["after_id"]


def after_id(cursor: str | None) -> uuid.UUID | None:
    """The id a cursor points after; 422 on ``cursor`` when it is not one of ours."""
    if cursor is None:
        return None
    (value,) = decode_cursor(cursor, arity=1)
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise ValidationFailed.field("cursor", "not a cursor returned by this list", type="cursor_invalid") from exc
