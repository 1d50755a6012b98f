"""Sortable identifiers: UUIDv7 (RFC 9562), time-ordered so that b-tree inserts stay append-only."""

from __future__ import annotations

import uuid

from uuid_utils import compat

__all__ = ["new_id"]


def new_id() -> uuid.UUID:
    """A fresh UUIDv7 as a standard-library UUID."""
    return compat.uuid7()
