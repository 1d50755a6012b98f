"""The rollup table of contract statistics (see services.market.stats.cube for its levels)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Column, Field

from services.market.base import MarketTable

__all__ = ["ContractStatCell", "cells_table"]


class ContractStatCell(MarketTable, table=True):
    """Sums of the folded contract deltas falling in one cell: (level, period, dimension values).

    ``level`` is a bitmask of the dimensions the cell keeps; the other dimension columns hold ''. ``period`` is
    yyyymm for a month cell and yyyy for a year cell. Only the fold writes cells (see services.market.stats.fold),
    so no request ever waits on a cell's row lock.
    """

    __tablename__ = "contract_stat_cells"

    level: int = Field(primary_key=True)
    period: int = Field(primary_key=True)
    seller_region: str = Field(primary_key=True, max_length=6)
    buyer_region: str = Field(primary_key=True, max_length=6)
    kind: str = Field(primary_key=True, max_length=60)
    subkind: str = Field(primary_key=True, max_length=60)
    technical_field: str = Field(primary_key=True, max_length=60)
    seller_entity_type: str = Field(primary_key=True, max_length=40)
    flow: str = Field(primary_key=True, max_length=20)
    office_id: str = Field(primary_key=True, max_length=36)
    broker_path: str = Field(primary_key=True, max_length=400)
    contracts: int = Field(sa_column=Column(sa.BigInteger, nullable=False))
    contract_amount_fen: int = Field(sa_column=Column(sa.BigInteger, nullable=False))
    technology_amount_fen: int = Field(sa_column=Column(sa.BigInteger, nullable=False))


cells_table: sa.Table = ContractStatCell.__table__  # type: ignore[attr-defined]
