"""STAND-IN for Idempotency-Key replay on POST /market/contracts.

The shared implementation (services/market/idempotency, built on the listings branch) replaces this module at
merge time; the router calls only ``replayed_contract`` and ``remember``. Semantics: a key is scoped to the caller
(token subject); the same key with the same body returns the contract created the first time (201 again, with
``Idempotent-Replayed: true``); the same key with a different body is a 422 on the Idempotency-Key header.
"""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.market.contracts.repository import ContractRepository
from shared.clock import utcnow
from shared.errors import ValidationFailed
from shared.security import Principal

__all__ = ["HEADER", "body_hash", "remember", "replayed_contract"]

HEADER = "Idempotency-Key"


def body_hash(canonical_body: str) -> str:
    """The fingerprint of a request body (its canonical JSON)."""
    return hashlib.sha256(canonical_body.encode()).hexdigest()


def _check_key(key: str) -> None:
    if not 1 <= len(key) <= 200 or not key.isprintable():
        raise ValidationFailed.field(HEADER, "1 to 200 printable characters", type="idempotency_key_invalid")


async def replayed_contract(
    *, session: AsyncSession, principal: Principal, key: str, fingerprint: str
) -> uuid.UUID | None:
    """The contract created earlier with this key and body, or None; 422 if the key was used for another body."""
    _check_key(key)
    stored = await ContractRepository.from_session(session).idempotent_request(principal.subject, key)
    if stored is None:
        return None
    if stored["request_hash"] != fingerprint:
        raise ValidationFailed.field(
            HEADER, "this key was already used with a different body", type="idempotency_key_reused"
        )
    return uuid.UUID(str(stored["contract_id"]))


async def remember(
    *, session: AsyncSession, principal: Principal, key: str, fingerprint: str, contract_id: uuid.UUID
) -> None:
    """Store the key with the contract it created, in the creating transaction."""
    await ContractRepository.from_session(session).remember_request(
        {
            "subject": principal.subject,
            "key": key,
            "request_hash": fingerprint,
            "contract_id": contract_id,
            "created_at": utcnow(),
        }
    )
