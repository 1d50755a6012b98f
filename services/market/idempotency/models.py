"""The stored first responses of idempotent POSTs."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, Column, Index, Integer, String, UniqueConstraint, Uuid
from sqlmodel import Field

from services.market.base import MarketTable
from shared.db import UTCDateTime
from shared.ids import new_id

__all__ = ["IdempotencyRecord"]


class IdempotencyRecord(MarketTable, table=True):
    """One Idempotency-Key of one caller and the response it produced."""

    __tablename__ = "market_idempotency_keys"
    __table_args__ = (
        UniqueConstraint("scope", "key", name="uq_market_idempotency_scope_key"),
        Index("ix_market_idempotency_expires_at", "expires_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, sa_column=Column(Uuid, primary_key=True))
    scope: str = Field(sa_column=Column(String(200), nullable=False))
    key: str = Field(sa_column=Column(String(255), nullable=False))
    fingerprint: str = Field(sa_column=Column(String(64), nullable=False))
    status_code: int = Field(sa_column=Column(Integer, nullable=False))
    response_body: Any = Field(sa_column=Column(JSON, nullable=True))
    response_headers: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    expires_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
