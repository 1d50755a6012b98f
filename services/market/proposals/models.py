"""The proposals table: a brokered match (撮合) or a direct interest, and its two-sided consent. Never deleted."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Field

from services.market.base import MarketTable
from shared.db import UTCDateTime
from shared.ids import new_id

__all__ = ["OPEN_STATUSES", "Proposal", "proposals_table"]

# The states in which a proposal still waits for consent: at most one such proposal per broker org, demand and
# achievement (per interested org and achievement for direct interest). Agreed, declined, withdrawn and expired
# ones are history and do not block a new proposal.
OPEN_STATUSES = ("proposed", "seller_accepted", "buyer_accepted")
_OPEN = "status IN ('proposed', 'seller_accepted', 'buyer_accepted')"


class Proposal(MarketTable, table=True):
    """A proposed deal between an achievement's owner (seller) and a demand's owner or an interested enterprise (buyer)."""

    __tablename__ = "market_proposals"
    __table_args__ = (
        sa.Index("ix_market_proposals_seller", "seller_org_id", "id"),
        sa.Index("ix_market_proposals_buyer", "buyer_org_id", "id"),
        sa.Index("ix_market_proposals_broker", "broker_org_id", "id"),
        sa.Index("ix_market_proposals_expiry", "status", "expires_at"),
        # One open proposal per pair and proposer; the same predicate on both backends (a race on it is a 409 too).
        sa.Index(
            "uq_market_proposals_open_broker",
            "broker_org_id",
            "demand_id",
            "achievement_id",
            unique=True,
            postgresql_where=sa.text(f"origin = 'broker' AND {_OPEN}"),
            sqlite_where=sa.text(f"origin = 'broker' AND {_OPEN}"),
        ),
        sa.Index(
            "uq_market_proposals_open_interest",
            "buyer_org_id",
            "achievement_id",
            unique=True,
            postgresql_where=sa.text(f"origin = 'interest' AND {_OPEN}"),
            sqlite_where=sa.text(f"origin = 'interest' AND {_OPEN}"),
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    origin: str = Field(max_length=16, description="broker (a broker's match) or interest (an enterprise asked).")
    status: str = Field(max_length=20)
    broker_org_id: uuid.UUID | None = Field(default=None, nullable=True)
    broker_org_path: str | None = Field(default=None, max_length=400, nullable=True)
    broker_subject: str | None = Field(default=None, max_length=200, nullable=True)
    demand_id: uuid.UUID | None = Field(default=None, nullable=True)
    achievement_id: uuid.UUID
    seller_org_id: uuid.UUID = Field(description="Owner of the achievement.")
    buyer_org_id: uuid.UUID = Field(description="Owner of the demand, or the interested organization.")
    note: str | None = Field(default=None, max_length=2000, nullable=True)
    cooperation_mode: str | None = Field(default=None, max_length=32, nullable=True)
    price_kind: str | None = Field(default=None, max_length=16, nullable=True)
    price_min_fen: int | None = Field(default=None, sa_type=sa.BigInteger, nullable=True)
    price_max_fen: int | None = Field(default=None, sa_type=sa.BigInteger, nullable=True)
    contact: dict[str, Any] | None = Field(
        default=None, sa_type=JSON, nullable=True, description="The interested organization's contact (interest)."
    )
    decline_reason: str | None = Field(default=None, max_length=2000, nullable=True)
    declined_side: str | None = Field(default=None, max_length=8, nullable=True)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime)
    agreed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    seller_accepted_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    buyer_accepted_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    version: int = Field(default=1)
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(sa_type=UTCDateTime)


proposals_table: sa.Table = Proposal.__table__  # type: ignore[attr-defined]
