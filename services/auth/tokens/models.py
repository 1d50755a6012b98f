"""Refresh tokens (rotated, in families), failed logins (for lockout across replicas), revoked access tokens."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlmodel import Field

from services.auth.base import AuthTable
from shared.clock import utcnow
from shared.db import UTCDateTime
from shared.ids import new_id

__all__ = ["LoginFailure", "RefreshToken", "RevokedAccessToken"]


class RefreshToken(AuthTable, table=True):
    """One refresh token (only its SHA-256 is stored); each works once, a reuse revokes the family."""

    __tablename__ = "auth_refresh_tokens"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    family_id: uuid.UUID
    token_hash: str = Field(unique=True)
    user_id: uuid.UUID = Field(foreign_key="auth_users.id")
    organization_id: uuid.UUID = Field(foreign_key="auth_organizations.id")
    client_id: str | None = None
    scope: str = ""
    issued_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    expires_at: dt.datetime = Field(sa_type=UTCDateTime())
    used_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime())
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime())


class LoginFailure(AuthTable, table=True):
    """A failed password grant, counted per account and per client IP within the lockout window."""

    __tablename__ = "auth_login_failures"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    account: str
    ip: str
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class RevokedAccessToken(AuthTable, table=True):
    """An access token revoked before expiry (RFC 7009); honoured by the auth service's own endpoints."""

    __tablename__ = "auth_revoked_access_tokens"

    jti: str = Field(primary_key=True)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime())
