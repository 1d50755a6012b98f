"""Write events to the market outbox in the caller's transaction (see the package docstring)."""

from __future__ import annotations

from typing import Unpack

from sqlalchemy.ext.asyncio import AsyncSession

from services.market.outbox.models import OutboxEvent
from shared.outbox import service as outbox
from shared.outbox.service import Event, Op

__all__ = ["Op", "enqueue"]


async def enqueue(*, session: AsyncSession, **event: Unpack[Event]) -> OutboxEvent:
    """Append one event (public fields only) to the market outbox; it commits or rolls back with the change.

    Keyword arguments: entity_kind, entity_id, version, event_type, op ("upsert" | "delete"), fields, and
    ``flush=False`` to only add it to the session (bulk writers that flush once per batch).
    """
    return await outbox.enqueue(session=session, model=OutboxEvent, **event)
