"""SQL of statistics targets."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.market.stats.targets.models import StatsTarget

__all__ = ["TargetRepository"]


class TargetRepository:
    """Reads and writes ``stats_targets``."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> TargetRepository:
        """The repository of ``session``."""
        return cls(session)

    @property
    def _postgres(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    async def add(self, row: StatsTarget) -> None:
        """Insert a target (flushed)."""
        self.session.add(row)
        await self.session.flush()

    async def get(self, target_id: uuid.UUID, *, for_update: bool = False) -> StatsTarget | None:
        """One target, locked for the transaction on PostgreSQL when ``for_update``."""
        query = select(StatsTarget).where(col(StatsTarget.id) == target_id)
        if for_update and self._postgres:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def page(
        self, *, metric: str | None, active_on: dt.date | None, after: uuid.UUID | None, limit: int
    ) -> Sequence[StatsTarget]:
        """Targets in id order after ``after``, of one metric and/or whose period holds ``active_on``."""
        query = select(StatsTarget)
        if metric is not None:
            query = query.where(col(StatsTarget.metric) == metric)
        if active_on is not None:
            query = query.where(col(StatsTarget.period_from) <= active_on, col(StatsTarget.period_to) >= active_on)
        if after is not None:
            query = query.where(col(StatsTarget.id) > after)
        query = query.order_by(col(StatsTarget.id)).limit(limit)
        return (await self.session.execute(query)).scalars().all()

    async def overlapping(self, *, first: dt.date | None, last: dt.date | None) -> Sequence[StatsTarget]:
        """Every target whose period meets [first, last] (None: unbounded), in id order."""
        query = select(StatsTarget)
        if last is not None:
            query = query.where(col(StatsTarget.period_from) <= last)
        if first is not None:
            query = query.where(col(StatsTarget.period_to) >= first)
        return (await self.session.execute(query.order_by(col(StatsTarget.id)))).scalars().all()
