"""Signing keys of access tokens, persisted so that a restart keeps the key and rotation keeps the old one."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Field

from services.auth.base import AuthTable
from shared.clock import utcnow
from shared.db import UTCDateTime

__all__ = ["SigningKey"]


class SigningKey(AuthTable, table=True):
    """An ES256 key pair as JWKs; the newest key whose ``activates_at`` has passed signs."""

    __tablename__ = "auth_signing_keys"

    kid: str = Field(primary_key=True)
    algorithm: str = "ES256"
    private_jwk: str
    public_jwk: str
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    activates_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
