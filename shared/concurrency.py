"""Optimistic concurrency: an ETag from an entity's integer version, If-Match on writes.

Interface (domain-neutral; market's listings and contracts, auth's organizations use it)::

    etag_for(version: int) -> str                 '"v3"': a strong ETag built from an integer version
    IfMatchHeader                                 Annotated header dependency: the raw If-Match value or None
    require_if_match(if_match, *, version) -> None
        428 precondition-required when the header is missing (the client must read first),
        412 precondition-failed when no listed tag matches the current version (someone wrote in between).
        ``*`` matches any existing entity (RFC 9110 §13.1.1). Weak tags (W/"v3") never match: If-Match uses
        strong comparison.
    check_if_match(if_match, *, version) -> None
        the same where If-Match is optional: nothing without the header, 412 when it does not match.

A service bumps ``version`` by one on every successful write, so the ETag changes with every update and
transition; the response of the write carries the new ETag.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Header

from shared.errors import PreconditionFailed, PreconditionRequired

__all__ = ["IfMatchHeader", "OptionalIfMatchHeader", "check_if_match", "etag_for", "require_if_match"]

IfMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="The ETag of the version you read (from GET). Required on updates and transitions.",
    ),
]

OptionalIfMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="Optional: the ETag of the version you read (from GET); when sent, the write happens only if "
        "nobody changed the entity since (412 otherwise).",
    ),
]


def etag_for(version: int) -> str:
    """The strong ETag of an entity at ``version``."""
    return f'"v{version}"'


def _tags(header: str) -> list[str]:
    return [part.strip() for part in header.split(",") if part.strip()]


def require_if_match(if_match: str | None, *, version: int) -> None:
    """Raise 428 without If-Match and 412 when it does not name the current version."""
    if if_match is None or not if_match.strip():
        raise PreconditionRequired(
            "This update needs an If-Match header with the ETag of the version you read (GET it first).",
            errors=[{"field": "If-Match", "in": "header", "message": "header required", "type": "missing"}],
        )
    check_if_match(if_match, version=version)


def check_if_match(if_match: str | None, *, version: int) -> None:
    """Raise 412 when an If-Match header is given and does not name the current version; no header passes."""
    if if_match is None or not if_match.strip():
        return
    current = etag_for(version)
    tags = _tags(if_match)
    if "*" in tags or current in tags:
        return
    raise PreconditionFailed(
        "The entity changed since you read it: If-Match does not match the current ETag. Read it again.",
        errors=[{"field": "If-Match", "in": "header", "message": f"current ETag is {current}", "type": "stale"}],
        extra={"current_etag": current},
    )
