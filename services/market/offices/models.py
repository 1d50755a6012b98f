"""The table of known registration offices."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlmodel import Field

from services.market.base import MarketTable
from shared.db import UTCDateTime

__all__ = ["RegistrationOffice", "offices_table"]


class RegistrationOffice(MarketTable, table=True):
    """A registration office: the auth organization (same id) of kind registration_office and the region it serves."""

    __tablename__ = "registration_offices"

    id: uuid.UUID = Field(primary_key=True, description="The office's organization id in the auth service.")
    region_code: str = Field(max_length=6, description="GB/T 2260 code of the region served (province/city/county).")
    region_prefix: str = Field(
        max_length=6, index=True, description="The significant prefix of region_code: 51, 5101 or 510104."
    )
    name: str = Field(max_length=200)
    active: bool = Field(default=True)
    created_by: str = Field(
        max_length=200,
        description="Who created the row: 'directory' (auth published it) or a platform admin's subject.",
    )
    created_at: dt.datetime = Field(sa_type=UTCDateTime)


offices_table: sa.Table = RegistrationOffice.__table__  # type: ignore[attr-defined]
