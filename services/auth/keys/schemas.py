"""Bodies of the key-management endpoints."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field, StrictInt

__all__ = ["KeyPublic", "RotateRequest"]


class RotateRequest(BaseModel):
    """POST /auth/keys/rotate."""

    model_config = ConfigDict(extra="forbid")

    publish_ahead_seconds: StrictInt | None = Field(
        default=None,
        ge=0,
        le=86_400,
        description="Publish the new key this long before it signs (default AUTH_KEY_PUBLISH_AHEAD_SECONDS).",
    )


class KeyPublic(BaseModel):
    """A signing key's life (never its private part)."""

    kid: str
    state: str = Field(description="next (published, not signing yet), active (signing), retired (verify only).")
    created_at: dt.datetime
    activates_at: dt.datetime
    retires_at: dt.datetime | None = Field(description="When a newer key took over.")
    published_until: dt.datetime | None = Field(description="When it leaves the JWKS (its last token expired).")
