"""Optimistic concurrency of market entities: shared.concurrency (ETag from the version, If-Match on writes)."""

from shared.concurrency import IfMatchHeader, etag_for, require_if_match

__all__ = ["IfMatchHeader", "etag_for", "require_if_match"]
