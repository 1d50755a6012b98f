"""The market's outbox table (columns: shared.outbox.models)."""

from __future__ import annotations

from services.market.base import MarketTable
from shared.outbox.models import OutboxEventFields, outbox_indexes

__all__ = ["OutboxEvent"]


class OutboxEvent(OutboxEventFields, MarketTable, table=True):
    """One change to deliver to search: what changed (kind, id, version) and its public fields."""

    __tablename__ = "market_outbox"
    __table_args__ = outbox_indexes("market_outbox")
