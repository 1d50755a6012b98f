"""The outbox table."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, String, Text, Uuid
from sqlmodel import Field

from services.market.base import MarketTable
from shared.db import UTCDateTime
from shared.ids import new_id

__all__ = ["OutboxEvent"]

# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
_SEQ_TYPE = BigInteger().with_variant(Integer(), "sqlite")


class OutboxEvent(MarketTable, table=True):
    """One change to deliver to search: what changed (kind, id, version) and its public fields."""

    __tablename__ = "market_outbox"
    __table_args__ = (
        Index("ix_market_outbox_due", "delivered_at", "next_attempt_at", "seq"),
        Index("ix_market_outbox_entity", "entity_kind", "entity_id", "seq"),
    )

    seq: int | None = Field(default=None, sa_column=Column(_SEQ_TYPE, primary_key=True, autoincrement=True))
    event_id: uuid.UUID = Field(default_factory=new_id, sa_column=Column(Uuid, nullable=False, unique=True))
    event_type: str = Field(sa_column=Column(String(64), nullable=False))
    entity_kind: str = Field(sa_column=Column(String(32), nullable=False))
    entity_id: uuid.UUID = Field(sa_column=Column(Uuid, nullable=False))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    op: str = Field(sa_column=Column(String(16), nullable=False))
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    next_attempt_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0))
    delivered_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
