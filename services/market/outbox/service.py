"""Write events to the outbox in the caller's transaction (see the package docstring)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from services.market.outbox.models import OutboxEvent
from services.market.outbox.repository import OutboxRepository
from shared.clock import utcnow

__all__ = ["Op", "enqueue"]

Op = Literal["upsert", "delete"]


async def enqueue(
    session: AsyncSession,
    *,
    entity_kind: str,
    entity_id: uuid.UUID,
    version: int,
    event_type: str,
    op: Op,
    fields: dict[str, Any],
    flush: bool = True,
) -> OutboxEvent:
    """Append one event (public fields only) to the outbox; it commits or rolls back with the change.

    ``flush=False`` only adds it to the session, for bulk writers that flush once per batch.
    """
    now = utcnow()
    event = OutboxEvent(
        event_type=event_type,
        entity_kind=entity_kind,
        entity_id=entity_id,
        version=version,
        op=op,
        payload=fields,
        created_at=now,
        next_attempt_at=now,
    )
    await OutboxRepository.from_session(session).add(event, flush=flush)
    return event
