"""The table of known organizations (a copy of auth's public facts, never its members or contacts)."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlmodel import Field

from services.market.base import MarketTable
from shared.db import UTCDateTime

__all__ = ["DirectoryOrganization", "organizations_table"]


class DirectoryOrganization(MarketTable, table=True):
    """One organization as auth last published it; ``version`` is auth's, so a stale document is recognized."""

    __tablename__ = "market_organizations"
    __table_args__ = (
        sa.Index("ix_market_organizations_path", "path"),
        sa.Index("ix_market_organizations_credit_code", "credit_code"),
    )

    id: uuid.UUID = Field(primary_key=True, description="The organization's id in the auth service.")
    name: str = Field(max_length=200)
    kind: str = Field(max_length=32)
    credit_code: str | None = Field(default=None, max_length=40)
    region_code: str | None = Field(default=None, max_length=6)
    parent_id: uuid.UUID | None = Field(default=None)
    path: str = Field(max_length=400)
    status: str = Field(max_length=16)
    designation_level: str | None = Field(default=None, max_length=16, description="示范机构: national | provincial.")
    designation_year: int | None = Field(default=None)
    designation_revoked: bool = Field(default=False)
    broker_certificates_valid_until: list[str] = Field(
        default_factory=list,
        sa_type=sa.JSON(),
        description="ISO dates: the last valid day of each broker certificate of its members that has one.",
    )
    version: int = Field(description="Auth's version of the organization; only a higher one replaces the row.")
    source_updated_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    synced_at: dt.datetime = Field(sa_type=UTCDateTime)


organizations_table: sa.Table = DirectoryOrganization.__table__  # type: ignore[attr-defined]
