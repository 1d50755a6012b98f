"""Tables of achievement listings and demand postings. Rows are never deleted: withdrawing is a status."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, UniqueConstraint
from sqlmodel import Field

from services.market.base import MarketTable
from shared.db import UTCDateTime
from shared.ids import new_id

__all__ = ["Achievement", "Demand", "Listing"]


class Listing(MarketTable):
    """Columns both kinds share (not a table itself)."""

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    owner_org_id: uuid.UUID = Field(nullable=False)
    owner_org_path: str = Field(max_length=400, nullable=False)
    owner_org_kind: str = Field(max_length=32, nullable=False)
    created_by: str = Field(max_length=200, nullable=False)
    title: str = Field(max_length=200, nullable=False)
    technical_field: str = Field(max_length=32, nullable=False)
    keywords: list[str] = Field(default_factory=list, sa_type=JSON, nullable=False)
    region_code: str = Field(max_length=6, nullable=False)
    contact: dict[str, Any] | None = Field(default=None, sa_type=JSON, nullable=True)
    status: str = Field(max_length=16, nullable=False)
    version: int = Field(default=1, nullable=False)
    created_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    updated_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    published_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


class Achievement(Listing, table=True):
    """A scientific and technological achievement (科技成果) offered for transfer."""

    __tablename__ = "market_achievements"
    __table_args__ = (
        UniqueConstraint("owner_org_id", "natural_key", name="uq_market_achievements_natural_key"),
        Index("ix_market_achievements_status_id", "status", "id"),
        Index("ix_market_achievements_owner", "owner_org_id", "id"),
        Index("ix_market_achievements_updated", "updated_at"),
        Index("ix_market_achievements_expiry", "status", "valid_until"),
        # NULLs are distinct in a unique index on both backends: only references actually given must be unique.
        Index("uq_market_achievements_external_id", "owner_org_id", "external_id", unique=True),
    )

    summary: str | None = Field(default=None, max_length=1000, nullable=True)
    description: str | None = Field(default=None, nullable=True)
    ipc_codes: list[str] = Field(default_factory=list, sa_type=JSON, nullable=False)
    patents: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON, nullable=False)
    ip_type: str = Field(max_length=32, nullable=False)
    trl: int | None = Field(default=None, nullable=True)
    transfer_modes: list[str] = Field(default_factory=list, sa_type=JSON, nullable=False)
    price_kind: str = Field(max_length=16, nullable=False)
    price_min_fen: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    price_max_fen: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    inventors: list[str] = Field(default_factory=list, sa_type=JSON, nullable=False)
    valid_until: dt.date | None = Field(default=None, nullable=True)
    # The transfer office's own reference (e.g. SCU-TT-2024-017): unique per owner, private to the owner.
    external_id: str | None = Field(default=None, max_length=100, nullable=True)
    # What makes a re-import a no-op: see services.market.listings.keys.
    natural_key: str = Field(max_length=255, nullable=False)


class Demand(Listing, table=True):
    """A technical demand (技术需求) posted by an enterprise or institute."""

    __tablename__ = "market_demands"
    __table_args__ = (
        Index("ix_market_demands_status_id", "status", "id"),
        Index("ix_market_demands_owner", "owner_org_id", "id"),
        Index("ix_market_demands_updated", "updated_at"),
        Index("ix_market_demands_expiry", "status", "deadline"),
    )

    description: str | None = Field(default=None, nullable=True)
    desired_trl: int | None = Field(default=None, nullable=True)
    cooperation_modes: list[str] = Field(default_factory=list, sa_type=JSON, nullable=False)
    budget_kind: str = Field(max_length=16, nullable=False)
    budget_min_fen: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    budget_max_fen: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    deadline: dt.date | None = Field(default=None, nullable=True)
    # An open published demand is a standing saved search of its owner: achievements matching it are announced
    # (services.market.saved_searches); the owner may switch that off.
    match_alerts: bool = Field(default=True, nullable=False)
