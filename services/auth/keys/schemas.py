"""Bodies of the key-management endpoints."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field, StrictInt

__all__ = ["JWKSet", "KeyPublic", "PublicJWK", "RotateRequest"]


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


class PublicJWK(BaseModel):
    """One ES256 public key (RFC 7517, EC P-256)."""

    model_config = ConfigDict(extra="allow")  # joserfc may add members; verifiers ignore unknown ones

    kty: str = Field(description="Key type: always EC.", examples=["EC"])
    crv: str = Field(description="Curve: always P-256.", examples=["P-256"])
    x: str = Field(description="The x coordinate, base64url.")
    y: str = Field(description="The y coordinate, base64url.")
    kid: str = Field(description="Key id; access tokens name it in their header.")
    use: str = Field(description="Always sig (signature).", examples=["sig"])
    alg: str = Field(description="Always ES256.", examples=["ES256"])


class JWKSet(BaseModel):
    """The JSON Web Key Set (RFC 7517 §5) that verifies access tokens."""

    keys: list[PublicJWK] = Field(description="The next, active and still-needed retired public keys.")
