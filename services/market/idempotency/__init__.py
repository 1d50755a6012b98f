"""Idempotency-Key for POSTs that create: a retry returns the first response instead of creating twice.

Interface (domain-neutral: listings and contracts both use it)::

    IdempotencyDep                      FastAPI dependency (needs a bearer token) → Idempotency
    Idempotency.replay_or_run(session, run) -> JSONResponse
        no key            → await run() and return its response (nothing stored)
        new key           → await run(); store (scope, key, fingerprint, status, body, headers) in the SAME
                            session (the request transaction), return the response
        same key and body → the stored status, body and headers again, plus ``Idempotent-Replayed: true``;
                            run is not called, nothing is written
        same key, other body (or other method/path) → 422 idempotency-key-reused, field ``Idempotency-Key``
        a concurrent twin still in flight (unique violation at flush) → 409 idempotency-key-in-flight; retry
    StoredResponse(status_code, body, headers)   what ``run`` returns: a JSON-able body and the headers to
                                                 replay (Location, ETag)
    replay_or_run(*, session, scope, key, fingerprint, run, ttl)   the same without FastAPI
    purge_expired(*, session, now) -> int        delete keys past their expiry (the maintenance loop calls it)

Keys are scoped to the caller (the token's ``sub``): two users may use the same key independently. They are kept
``idempotency_ttl_hours`` (at least 24 h; MarketSettings). Only successful (2xx) responses are stored: an error is
not a result worth replaying and the client may fix the body and retry with the same key.
"""

from services.market.idempotency.service import (
    IDEMPOTENCY_HEADER,
    Idempotency,
    IdempotencyDep,
    StoredResponse,
    purge_expired,
    replay_or_run,
)

__all__ = [
    "IDEMPOTENCY_HEADER",
    "Idempotency",
    "IdempotencyDep",
    "StoredResponse",
    "purge_expired",
    "replay_or_run",
]
