"""Users and their memberships (one per organization, with the roles held there)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlmodel import Field

from services.auth.base import AuthTable
from shared.clock import utcnow
from shared.db import UTCDateTime
from shared.ids import new_id

__all__ = ["Membership", "User"]


class User(AuthTable, table=True):
    """A person who logs in with an email (stored lower-cased) and an argon2id-hashed password."""

    __tablename__ = "auth_users"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    email: str = Field(unique=True)
    name: str
    password_hash: str
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class Membership(AuthTable, table=True):
    """A user's place in one organization; ``roles`` is space-separated."""

    __tablename__ = "auth_memberships"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="auth_users.id")
    organization_id: uuid.UUID = Field(foreign_key="auth_organizations.id")
    roles: str = ""
    broker_certificate_no: str | None = None
    broker_certificate_issuer: str | None = Field(default=None, max_length=200)
    # The certificate's last valid day (Beijing date); None: no recorded end (members made before it was kept).
    broker_certificate_valid_until: dt.date | None = None
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())

    @property
    def role_list(self) -> list[str]:
        """The roles as a sorted list."""
        return sorted(self.roles.split())
