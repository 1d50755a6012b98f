"""Tables of saved searches and their alerts: the searches, the alert jobs the listings enqueue, the hits recorded
(one per saved search and listing, ever), and the standing alerts of open demands (one per demand and achievement)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlmodel import Field

from services.market.base import MarketTable
from shared.db import UTCDateTime
from shared.ids import new_id

__all__ = ["DemandMatchAlert", "MatchAlertJob", "SavedSearch", "SavedSearchHit"]


class SavedSearch(MarketTable, table=True):
    """A user's search (q + the search API's filters) that alerts on new matching listings.

    It belongs to its creator acting for one organization (token ``sub`` + organization): the same person acting
    for another organization does not see it. ``amount_*`` are the price (achievements) or budget (demands) bounds,
    ``mode`` the transfer mode (achievements) or cooperation mode (demands), as the search API names them per kind.
    """

    __tablename__ = "saved_searches"
    __table_args__ = (
        Index("ix_saved_searches_owner", "owner_user_id", "owner_org_id", "id"),
        # The alert job pages through the active searches of one kind by id.
        Index("ix_saved_searches_kind_active", "kind", "active", "id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, sa_column=Column(Uuid, primary_key=True))
    owner_user_id: str = Field(sa_column=Column(String(200), nullable=False))
    owner_org_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid, nullable=True))
    name: str = Field(sa_column=Column(String(100), nullable=False))
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    q: str = Field(default="", sa_column=Column(String(200), nullable=False))
    technical_field: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    region: str | None = Field(default=None, sa_column=Column(String(6), nullable=True))
    trl_min: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    trl_max: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    amount_min_fen: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    amount_max_fen: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    ip_type: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    mode: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    matching: str = Field(default="last", sa_column=Column(String(8), nullable=False))
    channel: str = Field(default="inbox", sa_column=Column(String(16), nullable=False))
    frequency: str = Field(default="instant", sa_column=Column(String(16), nullable=False))
    active: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    created_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    last_alert_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    alerts_sent: int = Field(default=0, sa_column=Column(Integer, nullable=False))


class MatchAlertJob(MarketTable, table=True):
    """A listing became searchable (published) or changed materially while searchable: find whom to alert.

    Written by the listings in the transaction of the change, next to the search outbox event; ``document`` is that
    event's ingestion document (what search indexes), so the alert judges the listing as search sees it.
    """

    __tablename__ = "match_alert_jobs"
    __table_args__ = (
        # Pending jobs only: the claim query reads this index and nothing else.
        Index(
            "ix_match_alert_jobs_pending",
            "next_attempt_at",
            "id",
            postgresql_where=text("done_at IS NULL"),
            sqlite_where=text("done_at IS NULL"),
        ),
        Index("ix_match_alert_jobs_listing", "listing_id", "id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, sa_column=Column(Uuid, primary_key=True))
    listing_kind: str = Field(sa_column=Column(String(16), nullable=False))
    listing_id: uuid.UUID = Field(sa_column=Column(Uuid, nullable=False))
    listing_version: int = Field(sa_column=Column(Integer, nullable=False))
    owner_org_id: uuid.UUID = Field(sa_column=Column(Uuid, nullable=False))
    document: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    next_attempt_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    done_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    last_error: str | None = Field(default=None, sa_column=Column(String(500), nullable=True))


class SavedSearchHit(MarketTable, table=True):
    """A listing matched a saved search. Unique per (saved search, listing): a listing alerts a search once, ever.

    ``notified_at`` is set when the alert went out (instant: at once; daily: with the next 09:00 digest).
    """

    __tablename__ = "saved_search_hits"
    __table_args__ = (
        UniqueConstraint("saved_search_id", "listing_id", name="uq_saved_search_hits_search_listing"),
        Index(
            "ix_saved_search_hits_unsent",
            "saved_search_id",
            "id",
            postgresql_where=text("notified_at IS NULL"),
            sqlite_where=text("notified_at IS NULL"),
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, sa_column=Column(Uuid, primary_key=True))
    saved_search_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("saved_searches.id", ondelete="CASCADE"), nullable=False)
    )
    listing_kind: str = Field(sa_column=Column(String(16), nullable=False))
    listing_id: uuid.UUID = Field(sa_column=Column(Uuid, nullable=False))
    title: str = Field(sa_column=Column(String(300), nullable=False))
    snippet: str = Field(default="", sa_column=Column(String(2000), nullable=False))
    matched_terms: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    notified_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class DemandMatchAlert(MarketTable, table=True):
    """An open demand's owner was told of an achievement matching it (the standing search of a demand): once per
    (demand, achievement), ever."""

    __tablename__ = "demand_match_alerts"

    demand_id: uuid.UUID = Field(sa_column=Column(Uuid, primary_key=True))
    achievement_id: uuid.UUID = Field(sa_column=Column(Uuid, primary_key=True))
    score: float = Field(sa_column=Column(Float, nullable=False))
    created_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
