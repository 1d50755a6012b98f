"""OAuth2 clients that use the client_credentials grant (services, organizations' own systems)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlmodel import Field

from services.auth.base import AuthTable
from shared.clock import utcnow
from shared.db import UTCDateTime
from shared.ids import new_id

__all__ = ["Client"]


class Client(AuthTable, table=True):
    """A confidential client; the secret is stored as an argon2id hash, ``scopes`` space-separated."""

    __tablename__ = "auth_clients"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    client_id: str = Field(unique=True)
    name: str
    secret_hash: str
    scopes: str = ""
    organization_id: uuid.UUID | None = Field(default=None, foreign_key="auth_organizations.id")
    created_by: uuid.UUID | None = None
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    disabled_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime())

    @property
    def scope_list(self) -> list[str]:
        """The scopes as a sorted list."""
        return sorted(self.scopes.split())
