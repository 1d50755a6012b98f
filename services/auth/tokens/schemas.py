"""Token endpoint responses and RFC 6749 §5.2 errors."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, Field

__all__ = ["OAuthError", "OAuthErrorBody", "TokenResponse"]


class TokenResponse(BaseModel):
    """RFC 6749 §5.1 access token response."""

    access_token: str = Field(description="An ES256 JWT; see the claims in docs/auth.md.")
    token_type: str = Field(default="Bearer")
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str | None = Field(default=None, description="Single-use; absent for client_credentials.")
    scope: str = Field(description="Granted scopes, space-separated (empty for users).")


class OAuthErrorBody(BaseModel):
    """RFC 6749 §5.2 error response."""

    error: str = Field(
        description="invalid_request, invalid_client, invalid_grant, unauthorized_client, "
        "unsupported_grant_type or invalid_scope."
    )
    error_description: str | None = None


class OAuthError(Exception):
    """An error of the token endpoint, answered as RFC 6749 §5.2 JSON (never problem+json)."""

    def __init__(
        self, error: str, description: str, *, status: int = 400, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        self.headers = dict(headers or {})
