"""Sortable identifiers: UUIDv7 (RFC 9562), time-ordered so that b-tree inserts stay append-only."""

from __future__ import annotations

import datetime as dt
import uuid

from uuid_utils import compat

__all__ = ["id_floor", "new_id"]


def new_id() -> uuid.UUID:
    """A fresh UUIDv7 as a standard-library UUID."""
    return compat.uuid7()


def id_floor(at: dt.datetime) -> uuid.UUID:
    """The smallest UUIDv7 of the millisecond ``at``: every id made from then on sorts above or equal to it."""
    millis = int(at.timestamp() * 1000)
    return uuid.UUID(int=(millis << 80) | (0x7 << 76) | (0b10 << 62))
