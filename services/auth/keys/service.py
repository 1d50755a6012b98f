"""ES256 signing keys: created at first start, rotated without downtime, published as a JWKS.

Rotation adds a key that starts signing at ``activates_at`` (now, or after a publish-ahead delay so that every
verifier has seen it before the first token). A key stops signing when a newer one activates and stays in the
JWKS until the last token it signed has expired (access-token TTL plus clock leeway); after that it is pruned.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import secrets
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.keys.models import SigningKey
from services.auth.keys.repository import SigningKeyRepository
from shared.clock import utcnow
from shared.errors import Conflict
from shared.security import ACCESS_TOKEN_ALGORITHM, CLOCK_LEEWAY_SECONDS

__all__ = ["KeyStatus", "ensure_signing_key", "jwks", "key_statuses", "rotate", "sign"]


@dataclass(frozen=True)
class KeyStatus:
    """Where a key is in its life: next (published, not signing yet), active (signing), retired (verify only)."""

    kid: str
    state: str
    created_at: dt.datetime
    activates_at: dt.datetime
    retires_at: dt.datetime | None
    published_until: dt.datetime | None


def _new_key(activates_at: dt.datetime) -> SigningKey:
    kid = f"{activates_at:%Y%m%d}-{secrets.token_hex(4)}"
    key = ECKey.generate_key("P-256", parameters={"kid": kid, "use": "sig", "alg": ACCESS_TOKEN_ALGORITHM})
    return SigningKey(
        kid=kid,
        algorithm=ACCESS_TOKEN_ALGORITHM,
        private_jwk=json.dumps(key.as_dict(private=True)),
        public_jwk=json.dumps(key.as_dict(private=False)),
        activates_at=activates_at,
    )


def _statuses(keys: list[SigningKey], *, now: dt.datetime, token_ttl_seconds: int) -> list[KeyStatus]:
    """Classify keys (given newest-activating first)."""
    out: list[KeyStatus] = []
    successor_activation: dt.datetime | None = None
    active_seen = False
    grace = dt.timedelta(seconds=token_ttl_seconds + CLOCK_LEEWAY_SECONDS)
    for key in keys:
        if key.activates_at > now:
            state = "next"
            retires_at = successor_activation
        elif not active_seen:
            state, active_seen = "active", True
            retires_at = successor_activation
        else:
            state = "retired"
            retires_at = successor_activation
        published_until = retires_at + grace if retires_at is not None and state != "next" else None
        if state == "retired" and published_until is not None and published_until <= now:
            state = "expired"
        out.append(KeyStatus(key.kid, state, key.created_at, key.activates_at, retires_at, published_until))
        successor_activation = key.activates_at
    return out


async def key_statuses(*, session: AsyncSession, token_ttl_seconds: int) -> list[KeyStatus]:
    """The state of every stored key."""
    keys = list(await SigningKeyRepository(session).all_newest_first())
    return _statuses(keys, now=utcnow(), token_ttl_seconds=token_ttl_seconds)


async def ensure_signing_key(*, session: AsyncSession) -> None:
    """Create the first key when none exists (first start)."""
    repo = SigningKeyRepository(session)
    if not await repo.all_newest_first():
        await repo.add(_new_key(utcnow()))


async def rotate(
    *,
    session: AsyncSession,
    token_ttl_seconds: int,
    publish_ahead_seconds: int = 0,
    min_interval_seconds: int = 0,
) -> KeyStatus:
    """Add a new key that signs after ``publish_ahead_seconds``; prune keys no unexpired token can carry.

    While the newest key is younger than ``min_interval_seconds`` (the API passes the access-token lifetime)
    the rotation is refused with 409 ``rotation-too-soon`` and Retry-After: every rotation keeps the previous key
    published for a token lifetime, so rotating faster only piles up keys in the JWKS that every verifier fetches.
    """
    repo = SigningKeyRepository(session)
    now = utcnow()
    if min_interval_seconds > 0:
        existing = await repo.all_newest_first()
        newest = max((k.created_at for k in existing), default=None)
        if newest is not None:
            wait = (newest + dt.timedelta(seconds=min_interval_seconds) - now).total_seconds()
            if wait > 0:
                raise Conflict(
                    f"The newest signing key is younger than the access-token lifetime ({min_interval_seconds} s): "
                    "rotate again once it has signed for a whole token lifetime.",
                    slug="rotation-too-soon",
                    title="Rotation too soon",
                    headers={"Retry-After": str(max(1, math.ceil(wait)))},
                )
    key = await repo.add(_new_key(now + dt.timedelta(seconds=publish_ahead_seconds)))
    keys = list(await repo.all_newest_first())
    statuses = _statuses(keys, now=now, token_ttl_seconds=token_ttl_seconds)
    for stored, status in zip(keys, statuses, strict=True):
        if status.state == "expired":
            await repo.delete(stored)
    return next(s for s in statuses if s.kid == key.kid)


async def jwks(*, session: AsyncSession, token_ttl_seconds: int) -> dict[str, Any]:
    """The public keys verifiers may meet: next, active, and retired ones whose tokens can still be valid."""
    keys = list(await SigningKeyRepository(session).all_newest_first())
    statuses = _statuses(keys, now=utcnow(), token_ttl_seconds=token_ttl_seconds)
    published = [
        json.loads(key.public_jwk)
        for key, status in zip(keys, statuses, strict=True)
        if status.state in ("next", "active", "retired")
    ]
    return {"keys": published}


async def sign(*, session: AsyncSession, claims: dict[str, Any]) -> str:
    """Sign ``claims`` with the active key."""
    keys = list(await SigningKeyRepository(session).all_newest_first())
    now = utcnow()
    active = next((k for k in keys if k.activates_at <= now), None)
    if active is None:
        # Only possible if every key was created to activate in the future; sign with the oldest rather than fail.
        if not keys:
            raise RuntimeError("no signing key: the auth service's startup creates one")
        active = keys[-1]
    key = _import_private(active.private_jwk)
    return jwt.encode({"alg": ACCESS_TOKEN_ALGORITHM, "kid": active.kid, "typ": "at+jwt"}, claims, key)


_private_cache: dict[str, ECKey] = {}


def _import_private(private_jwk: str) -> ECKey:
    # Parsing a JWK is cheap but not free; keys never change once written, so cache by the serialized form.
    key = _private_cache.get(private_jwk)
    if key is None:
        key = ECKey.import_key(json.loads(private_jwk))
        _private_cache[private_jwk] = key
    return key
