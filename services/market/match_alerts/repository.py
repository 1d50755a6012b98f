"""All SQL of the demands' standing match alerts (``demand_match_alerts``, and the demands' ``match_alerts`` flag)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.market.listings.models import Demand
from services.market.saved_searches.models import DemandMatchAlert

__all__ = ["DemandAlertRepository"]


class DemandAlertRepository:
    """Reads the demands that keep match alerts on; records each (demand, achievement) alert once."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def demands_alerting(self, demand_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """The demands among ``demand_ids`` whose owner keeps match alerts on."""
        if not demand_ids:
            return set()
        query = select(col(Demand.id)).where(col(Demand.id).in_(list(demand_ids)), col(Demand.match_alerts).is_(True))
        return set((await self.session.execute(query)).scalars())

    async def insert_demand_alerts(self, rows: Sequence[dict[str, Any]]) -> set[uuid.UUID]:
        """Insert-if-absent on (demand, achievement); returns the demand ids whose alert is new."""
        if not rows:
            return set()
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = (
            insert(DemandMatchAlert)
            .values(list(rows))
            .on_conflict_do_nothing(index_elements=["demand_id", "achievement_id"])
            .returning(col(DemandMatchAlert.demand_id))
        )
        return set((await self.session.execute(statement)).scalars())
