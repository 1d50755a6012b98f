"""Write events to an outbox in the caller's transaction (see the package docstring)."""

from __future__ import annotations

import uuid
from typing import Any, Literal, NotRequired, TypedDict

from sqlalchemy.ext.asyncio import AsyncSession

from shared.clock import utcnow
from shared.outbox.repository import E, OutboxRepository

__all__ = ["Event", "Op", "enqueue"]

Op = Literal["upsert", "delete"]


class Event(TypedDict):
    """The arguments of :func:`enqueue` after the model, for a service's own ``enqueue(session=..., **event)``."""

    entity_kind: str
    entity_id: uuid.UUID
    version: int
    event_type: str
    op: Op
    fields: dict[str, Any]
    flush: NotRequired[bool]


async def enqueue(
    *,
    session: AsyncSession,
    model: type[E],
    entity_kind: str,
    entity_id: uuid.UUID,
    version: int,
    event_type: str,
    op: Op,
    fields: dict[str, Any],
    flush: bool = True,
) -> E:
    """Append one event (public fields only) to ``model``'s outbox; it commits or rolls back with the change.

    ``flush=False`` only adds it to the session, for bulk writers that flush once per batch.
    """
    now = utcnow()
    event = model(
        event_type=event_type,
        entity_kind=entity_kind,
        entity_id=entity_id,
        version=version,
        op=op,
        payload=fields,
        created_at=now,
        next_attempt_at=now,
    )
    await OutboxRepository(session, model).add(event, flush=flush)
    return event
