"""Idempotent POSTs: store the first response of a key, replay it on retries (see the package docstring)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.market.idempotency.models import IdempotencyRecord
from services.market.idempotency.repository import IdempotencyRepository
from shared.clock import utcnow
from shared.errors import Conflict, ValidationFailed
from shared.security import CurrentPrincipal

__all__ = [
    "DEFAULT_TTL",
    "IDEMPOTENCY_HEADER",
    "Idempotency",
    "IdempotencyDep",
    "StoredResponse",
    "fingerprint_of",
    "purge_expired",
    "replay_or_run",
]

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
DEFAULT_TTL = dt.timedelta(hours=24)
# Visible ASCII only: the key travels in headers and logs.
_KEY_SHAPE = re.compile(r"^[\x21-\x7e]{1,255}$")


@dataclass(frozen=True)
class StoredResponse:
    """A response worth replaying: status, JSON-able body, headers such as Location and ETag."""

    status_code: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    def to_response(self, *, replayed: bool = False) -> JSONResponse:
        """The HTTP response of this stored result."""
        headers = dict(self.headers)
        if replayed:
            headers[REPLAYED_HEADER] = "true"
        return JSONResponse(self.body, status_code=self.status_code, headers=headers)


def fingerprint_of(*, method: str, path: str, body: bytes) -> str:
    """A hash of what the request asks for: method, path and the body (JSON compared by value, not spacing)."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    digest = hashlib.sha256()
    digest.update(method.upper().encode() + b"\n" + path.encode() + b"\n")
    digest.update(canonical)
    return digest.hexdigest()


def _check_key(key: str) -> None:
    if not _KEY_SHAPE.match(key):
        raise ValidationFailed(
            "Idempotency-Key must be 1 to 255 visible ASCII characters (a UUID is a good choice).",
            errors=[
                {
                    "field": IDEMPOTENCY_HEADER,
                    "in": "header",
                    "message": "1-255 visible ASCII characters",
                    "type": "invalid",
                }
            ],
        )


async def replay_or_run(
    *,
    session: AsyncSession,
    scope: str,
    key: str | None,
    fingerprint: str,
    run: Callable[[], Awaitable[StoredResponse]],
    ttl: dt.timedelta = DEFAULT_TTL,
) -> JSONResponse:
    """Replay the stored response of ``key`` or run the request and store its response in the same session."""
    if key is None:
        return (await run()).to_response()
    _check_key(key)
    repository = IdempotencyRepository.from_session(session)
    now = utcnow()
    existing = await repository.get(scope=scope, key=key)
    if existing is not None and existing.expires_at <= now:
        await repository.delete(existing)
        existing = None
    if existing is not None:
        if existing.fingerprint != fingerprint:
            raise ValidationFailed(
                "This Idempotency-Key was already used with a different request; use a new key for a new request.",
                slug="idempotency-key-reused",
                errors=[
                    {
                        "field": IDEMPOTENCY_HEADER,
                        "in": "header",
                        "message": "key already used with another body",
                        "type": "idempotency_key_reused",
                    }
                ],
            )
        stored = StoredResponse(existing.status_code, existing.response_body, dict(existing.response_headers))
        return stored.to_response(replayed=True)
    result = await run()
    if 200 <= result.status_code < 300:
        record = IdempotencyRecord(
            scope=scope,
            key=key,
            fingerprint=fingerprint,
            status_code=result.status_code,
            response_body=result.body,
            response_headers=dict(result.headers),
            created_at=now,
            expires_at=now + ttl,
        )
        try:
            await repository.add(record)
        except IntegrityError as exc:
            # A twin request with the same key committed first; this one's work is rolled back with the request.
            raise Conflict(
                "Another request with this Idempotency-Key is being processed; retry to get its response.",
                slug="idempotency-key-in-flight",
            ) from exc
    return result.to_response()


async def purge_expired(*, session: AsyncSession, now: dt.datetime | None = None) -> int:
    """Delete keys past their expiry; returns how many."""
    return await IdempotencyRepository.from_session(session).delete_expired(now=now or utcnow())


@dataclass(frozen=True)
class Idempotency:
    """The idempotency context of one request: caller scope, key (if sent) and request fingerprint."""

    scope: str
    key: str | None
    fingerprint: str
    ttl: dt.timedelta = DEFAULT_TTL

    async def replay_or_run(self, session: AsyncSession, run: Callable[[], Awaitable[StoredResponse]]) -> JSONResponse:
        """See :func:`replay_or_run`."""
        return await replay_or_run(
            session=session, scope=self.scope, key=self.key, fingerprint=self.fingerprint, run=run, ttl=self.ttl
        )


async def _idempotency(
    request: Request,
    principal: CurrentPrincipal,
    key: Annotated[
        # The pattern documents _check_key's rule (which keeps its own 422 message).
        Annotated[str, Field(json_schema_extra={"pattern": _KEY_SHAPE.pattern})] | None,
        Header(
            alias=IDEMPOTENCY_HEADER,
            description="A unique key per logical request (a UUID; 1 to 255 visible ASCII characters); a retry with the same key and body returns "
            "the first response. Kept at least 24 h, scoped to the caller.",
        ),
    ] = None,
) -> Idempotency:
    body = await request.body()
    hours = getattr(getattr(request.app.state, "settings", None), "idempotency_ttl_hours", None)
    ttl = dt.timedelta(hours=hours) if isinstance(hours, int | float) else DEFAULT_TTL
    return Idempotency(
        scope=principal.subject,
        key=key,
        fingerprint=fingerprint_of(method=request.method, path=request.url.path, body=body),
        ttl=ttl,
    )


IdempotencyDep = Annotated[Idempotency, Depends(_idempotency)]
