"""The table of statistics targets (``stats_targets``)."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlmodel import Column, Field

from services.market.base import MarketTable
from shared.db import UTCDateTime
from shared.ids import new_id

__all__ = ["StatsTarget", "targets_table"]


class StatsTarget(MarketTable, table=True):
    """A target: a metric to reach in a period (Beijing dates, inclusive) within a scope (a region, 川渝, an
    organization subtree, or everywhere). ``value`` is fen for the amounts, a count otherwise."""

    __tablename__ = "stats_targets"
    __table_args__ = (
        sa.CheckConstraint("period_from <= period_to", name="ck_stats_targets_period"),
        sa.CheckConstraint("value > 0", name="ck_stats_targets_value"),
        sa.Index("ix_stats_targets_metric", "metric", "id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, sa_column=Column(sa.Uuid, primary_key=True))
    name: str = Field(sa_column=Column(sa.String(200), nullable=False))
    metric: str = Field(sa_column=Column(sa.String(32), nullable=False))
    period_from: dt.date = Field(sa_column=Column(sa.Date, nullable=False))
    period_to: dt.date = Field(sa_column=Column(sa.Date, nullable=False))
    region: str | None = Field(default=None, sa_column=Column(sa.String(6), nullable=True))
    organization_id: uuid.UUID | None = Field(default=None, sa_column=Column(sa.Uuid, nullable=True))
    value: int = Field(sa_column=Column(sa.BigInteger, nullable=False))
    source: str = Field(sa_column=Column(sa.String(500), nullable=False))
    created_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    created_by: str = Field(sa_column=Column(sa.String(200), nullable=False))
    updated_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_by: str = Field(sa_column=Column(sa.String(200), nullable=False))
    version: int = Field(default=1, sa_column=Column(sa.Integer, nullable=False))


targets_table: sa.Table = StatsTarget.__table__  # type: ignore[attr-defined]
