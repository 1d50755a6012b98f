"""SQL of the outbox."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.market.outbox.models import OutboxEvent

__all__ = ["OutboxRepository"]


class OutboxRepository:
    """Reads and writes ``market_outbox``."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> OutboxRepository:
        return cls(session)

    async def add(self, event: OutboxEvent, *, flush: bool = True) -> None:
        self.session.add(event)
        if flush:
            await self.session.flush()

    async def claim_due(self, *, now: dt.datetime, limit: int) -> list[OutboxEvent]:
        """Lock the oldest due undelivered events; rows another relay holds are skipped (PostgreSQL)."""
        query = (
            select(OutboxEvent)
            .where(col(OutboxEvent.delivered_at).is_(None), col(OutboxEvent.next_attempt_at) <= now)
            .order_by(col(OutboxEvent.seq))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.execute(query)).scalars())

    async def undelivered_of(
        self, *, entities: Sequence[tuple[str, uuid.UUID]], up_to_seq: int
    ) -> list[tuple[str, uuid.UUID, int]]:
        """(kind, id, seq) of every undelivered event of ``entities`` up to ``up_to_seq``, in seq order."""
        if not entities:
            return []
        match = or_(
            *(
                and_(col(OutboxEvent.entity_kind) == kind, col(OutboxEvent.entity_id) == entity_id)
                for kind, entity_id in entities
            )
        )
        query = (
            select(col(OutboxEvent.entity_kind), col(OutboxEvent.entity_id), col(OutboxEvent.seq))
            .where(col(OutboxEvent.delivered_at).is_(None), col(OutboxEvent.seq) <= up_to_seq, match)
            .order_by(col(OutboxEvent.seq))
        )
        return [(row[0], row[1], int(row[2] or 0)) for row in (await self.session.execute(query)).all()]

    async def lease(self, seqs: Sequence[int], *, until: dt.datetime) -> None:
        await self.session.execute(
            update(OutboxEvent).where(col(OutboxEvent.seq).in_(seqs)).values(next_attempt_at=until)
        )

    async def mark_delivered(self, seqs: Sequence[int], *, at: dt.datetime) -> None:
        await self.session.execute(
            update(OutboxEvent)
            .where(col(OutboxEvent.seq).in_(seqs))
            .values(delivered_at=at, attempts=col(OutboxEvent.attempts) + 1, last_error=None)
        )

    async def mark_failed(self, event: OutboxEvent, *, retry_at: dt.datetime, error: str) -> None:
        await self.session.execute(
            update(OutboxEvent)
            .where(col(OutboxEvent.seq) == event.seq)
            .values(attempts=col(OutboxEvent.attempts) + 1, next_attempt_at=retry_at, last_error=error[:2000])
        )

    async def get_many(self, seqs: Sequence[int]) -> list[OutboxEvent]:
        query = select(OutboxEvent).where(col(OutboxEvent.seq).in_(seqs)).order_by(col(OutboxEvent.seq))
        return list((await self.session.execute(query)).scalars())

    async def count_undelivered(self) -> int:
        query = select(func.count()).select_from(OutboxEvent).where(col(OutboxEvent.delivered_at).is_(None))
        return int((await self.session.execute(query)).scalar_one())

    async def list_for_entity(self, *, entity_kind: str, entity_id: uuid.UUID) -> list[OutboxEvent]:
        query = (
            select(OutboxEvent)
            .where(col(OutboxEvent.entity_kind) == entity_kind, col(OutboxEvent.entity_id) == entity_id)
            .order_by(col(OutboxEvent.seq))
        )
        return list((await self.session.execute(query)).scalars())
