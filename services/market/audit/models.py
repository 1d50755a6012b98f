"""The audit trail table."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, Column, Index, String, Uuid
from sqlmodel import Field

from services.market.base import MarketTable
from shared.db import UTCDateTime
from shared.ids import new_id

__all__ = ["AuditEvent"]


class AuditEvent(MarketTable, table=True):
    """One state change of one entity: who (user and organization), from → to, when, in which request."""

    __tablename__ = "market_audit_events"
    __table_args__ = (Index("ix_market_audit_entity", "entity_kind", "entity_id", "id"),)

    id: uuid.UUID = Field(default_factory=new_id, sa_column=Column(Uuid, primary_key=True))
    entity_kind: str = Field(sa_column=Column(String(32), nullable=False))
    entity_id: uuid.UUID = Field(sa_column=Column(Uuid, nullable=False))
    action: str = Field(sa_column=Column(String(32), nullable=False))
    from_status: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    to_status: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    actor_subject: str = Field(sa_column=Column(String(200), nullable=False))
    actor_org_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid, nullable=True))
    request_id: str | None = Field(default=None, sa_column=Column(String(128), nullable=True))
    occurred_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    details: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
