"""SQL of an outbox table (any model built from OutboxEventFields)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Generic, TypeVar

from sqlalchemy import Select, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from shared.outbox.models import OutboxEventFields

__all__ = ["E", "OutboxRepository"]

E = TypeVar("E", bound=OutboxEventFields)


class OutboxRepository(Generic[E]):
    """Reads and writes the outbox table of ``model``."""

    def __init__(self, session: AsyncSession, model: type[E]) -> None:
        self.session = session
        self.model = model

    async def add(self, event: E, *, flush: bool = True) -> None:
        self.session.add(event)
        if flush:
            await self.session.flush()

    def claim_query(self, *, now: dt.datetime, limit: int) -> Select[E]:
        """The oldest due undelivered events, locked: read in seq order from the partial index ``ix_<table>_pending``
        (only undelivered rows, already in seq order), so no sort, whatever the backlog (tests/shared/test_outbox_plans.py).
        """
        m = self.model
        return (
            select(m)
            .where(col(m.delivered_at).is_(None), col(m.next_attempt_at) <= now)
            .order_by(col(m.seq))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )

    async def claim_due(self, *, now: dt.datetime, limit: int) -> list[E]:
        """Lock the oldest due undelivered events; rows another relay holds are skipped (PostgreSQL)."""
        return list((await self.session.execute(self.claim_query(now=now, limit=limit))).scalars())

    def undelivered_query(
        self, *, entities: Sequence[tuple[str, uuid.UUID]], up_to_seq: int
    ) -> Select[str, uuid.UUID, int | None]:
        """Per entity kind, ``entity_kind = ? AND entity_id IN (...)`` on ``ix_<table>_entity (entity_kind, entity_id,
        seq)``: bounded by the entities' own events, not the backlog. No ORDER BY on purpose: it would let the planner
        walk the whole backlog in seq order instead (the caller sorts the few rows)."""
        m = self.model
        ids_by_kind: dict[str, list[uuid.UUID]] = {}
        for kind, entity_id in entities:
            ids_by_kind.setdefault(kind, []).append(entity_id)
        match = or_(
            *(and_(col(m.entity_kind) == kind, col(m.entity_id).in_(ids)) for kind, ids in sorted(ids_by_kind.items()))
        )
        return select(col(m.entity_kind), col(m.entity_id), col(m.seq)).where(
            col(m.delivered_at).is_(None), col(m.seq) <= up_to_seq, match
        )

    async def undelivered_of(
        self, *, entities: Sequence[tuple[str, uuid.UUID]], up_to_seq: int
    ) -> list[tuple[str, uuid.UUID, int]]:
        """(kind, id, seq) of every undelivered event of ``entities`` up to ``up_to_seq``, in seq order."""
        if not entities:
            return []
        query = self.undelivered_query(entities=entities, up_to_seq=up_to_seq)
        rows = [(row[0], row[1], int(row[2] or 0)) for row in (await self.session.execute(query)).all()]
        return sorted(rows, key=lambda row: row[2])

    async def lease(self, seqs: Sequence[int], *, until: dt.datetime) -> None:
        m = self.model
        await self.session.execute(update(m).where(col(m.seq).in_(seqs)).values(next_attempt_at=until))

    async def mark_delivered(self, seqs: Sequence[int], *, at: dt.datetime) -> None:
        m = self.model
        await self.session.execute(
            update(m).where(col(m.seq).in_(seqs)).values(delivered_at=at, attempts=col(m.attempts) + 1, last_error=None)
        )

    async def mark_failed(self, event: E, *, retry_at: dt.datetime, error: str) -> None:
        m = self.model
        await self.session.execute(
            update(m)
            .where(col(m.seq) == event.seq)
            .values(attempts=col(m.attempts) + 1, next_attempt_at=retry_at, last_error=error[:2000])
        )

    async def count_undelivered(self) -> int:
        m = self.model
        query = select(func.count()).select_from(m).where(col(m.delivered_at).is_(None))
        return int((await self.session.execute(query)).scalar_one())

    async def list_for_entity(self, *, entity_kind: str, entity_id: uuid.UUID) -> list[E]:
        """Every event of one entity, oldest first (delivered or not)."""
        m = self.model
        query = select(m).where(col(m.entity_kind) == entity_kind, col(m.entity_id) == entity_id).order_by(col(m.seq))
        return list((await self.session.execute(query)).scalars())
