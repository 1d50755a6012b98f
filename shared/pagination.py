"""Cursor pagination: ``?limit=&cursor=`` in, ``{items, next_cursor}`` out.

A cursor is an opaque url-safe token encoding the sort key of the last item returned (keyset pagination),
so pages stay stable while rows are inserted and deep pages cost the same as the first. This module is the one
cursor codec of every list: :func:`decode_cursor` checks a cursor's arity and the type of each value, so a
forged or foreign cursor is a 422 ``cursor_invalid`` on ``cursor``, never a server error.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from shared.errors import ValidationFailed
from shared.reference.codes import CURSOR_PATTERN

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "Cursor",
    "Limit",
    "Page",
    "cursor_after",
    "cursor_id",
    "decode_cursor",
    "encode_cursor",
    "invalid_cursor",
]

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

T = TypeVar("T")
R = TypeVar("R")

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Page size, 1 to {MAX_LIMIT}.")]
Cursor = Annotated[
    # The pattern documents encode_cursor's alphabet; decode_cursor keeps the check (and its 422 message).
    Annotated[str, Field(json_schema_extra={"pattern": CURSOR_PATTERN})] | None,
    Query(
        max_length=512,
        description="The `next_cursor` of the previous page (opaque: url-safe base64 without padding); omit for "
        "the first.",
    ),
]


class Page(BaseModel, Generic[T]):
    """One page of a list."""

    items: list[T]
    next_cursor: str | None = None


def encode_cursor(*values: Any) -> str:
    """Encode the sort key of the last item of a page."""
    raw = json.dumps(list(values), separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def invalid_cursor(message: str = "not a cursor returned by this list") -> ValidationFailed:
    """The 422 of a cursor this list did not make (raise it for checks beyond :func:`decode_cursor`'s)."""
    return ValidationFailed.field("cursor", message, type="cursor_invalid")


def _typed(value: Any, kind: type) -> Any:
    """``value`` as ``kind`` (uuid.UUID from its string, int but not bool, str); ValueError when it is not one."""
    if kind is uuid.UUID:
        if not isinstance(value, str):
            raise ValueError("not a uuid")
        return uuid.UUID(value)
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("not an integer")
        return value
    if kind is str:
        if not isinstance(value, str):
            raise ValueError("not a string")
        return value
    raise TypeError(f"cursor values of type {kind.__name__} are not supported")


def decode_cursor(cursor: str, *, types: Sequence[type] = (uuid.UUID,)) -> tuple[Any, ...]:
    """Decode a cursor made by :func:`encode_cursor` into one value per entry of ``types`` (uuid.UUID, int, str).

    Anything else — not base64, not JSON, not a list, another length, a value of another type — is a 422
    ``cursor_invalid`` on ``cursor``.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True))
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError("wrong arity")
        return tuple(_typed(value, kind) for value, kind in zip(values, types, strict=True))
    except (ValueError, UnicodeError, binascii.Error, RecursionError) as exc:
        raise invalid_cursor() from exc


def cursor_id(cursor: str | None) -> uuid.UUID | None:
    """The id a keyset cursor over ids points after (None for the first page); 422 when it is not one of ours."""
    if cursor is None:
        return None
    (value,) = decode_cursor(cursor)
    assert isinstance(value, uuid.UUID)
    return value


def cursor_after(rows: Sequence[R], limit: int, *, id_of: Callable[[R], uuid.UUID]) -> str | None:
    """The ``next_cursor`` of a keyset page over ids (read back by :func:`cursor_id`): the query fetched ``limit + 1``
    rows to learn whether another page follows; if it does, the cursor points after the last row shown, else None."""
    return encode_cursor(str(id_of(rows[limit - 1]))) if len(rows) > limit else None
