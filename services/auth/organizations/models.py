"""The organizations table: the 1+4+N tree with a materialized path for cheap subtree queries."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlmodel import Field

from services.auth.base import AuthTable
from shared.clock import utcnow
from shared.db import UTCDateTime
from shared.ids import new_id

__all__ = ["Organization"]


class Organization(AuthTable, table=True):
    """An organization; ``path`` is "/<root id>/…/<id>/" so a subtree is one prefix match.

    ``version`` starts at 1 and grows by one on every change: it is the ETag, and the order of the organization's
    events in ``auth_outbox`` (the directory feed market reads).
    """

    __tablename__ = "auth_organizations"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    name: str
    kind: str
    credit_code: str | None = Field(default=None, unique=True)
    region_code: str | None = None
    parent_id: uuid.UUID | None = Field(default=None, foreign_key="auth_organizations.id")
    path: str
    status: str = "pending"
    rejection_reason: str | None = None
    suspension_reason: str | None = None
    version: int = 1
    # 示范机构 (transfer institutions only): national | provincial, the year designated; revoked keeps both.
    designation_level: str | None = Field(default=None, max_length=16)
    designation_year: int | None = None
    designation_revoked: bool = False
    designation_revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime())
    # The valid_until (ISO dates, sorted) of the broker memberships' certificates that have one: a published fact of
    # the organization (market counts certified brokers from it), kept by organizations.publish.refresh_brokers.
    broker_certificates_valid_until: list[str] = Field(default_factory=list, sa_type=sa.JSON())
    decided_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime())
    decided_by: uuid.UUID | None = None
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())

    @property
    def designation(self) -> dict[str, object] | None:
        """The designation as the API shows it, or None when it never had one."""
        if self.designation_level is None or self.designation_year is None:
            return None
        return {
            "level": self.designation_level,
            "year": self.designation_year,
            "revoked": self.designation_revoked,
            "revoked_at": self.designation_revoked_at,
        }
