"""Service-to-service access tokens: OAuth2 client_credentials against the auth service, refreshed before expiry.

Used by the market outbox relay (scope ``search:ingest``) and by the search reindexer (scope ``market:read``).
Built on authlib's httpx OAuth2 client; the client authenticates with HTTP Basic (client_secret_basic).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client

__all__ = ["ServiceTokenProvider"]

REFRESH_LEEWAY_SECONDS = 60


class ServiceTokenProvider:
    """Hands out a valid bearer token for a service client, fetching a new one shortly before expiry."""

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._token_url = token_url
        self._scope = scope
        self._client = AsyncOAuth2Client(
            client_id=client_id,
            client_secret=client_secret,
            token_endpoint_auth_method="client_secret_basic",  # noqa: S106  (a method name, not a secret)
            scope=scope,
            transport=transport,
            timeout=10.0,
        )
        self._token: dict[str, Any] | None = None
        self._lock = asyncio.Lock()

    async def access_token(self) -> str:
        """A bearer token valid for at least the refresh leeway."""
        async with self._lock:
            if self._token is None or float(self._token.get("expires_at", 0)) - REFRESH_LEEWAY_SECONDS < time.time():
                self._token = await self._client.fetch_token(
                    self._token_url, grant_type="client_credentials", scope=self._scope
                )
            return str(self._token["access_token"])

    async def headers(self) -> dict[str, str]:
        """The Authorization header to send."""
        return {"Authorization": f"Bearer {await self.access_token()}"}

    def invalidate(self) -> None:
        """Forget the cached token (after a 401, say), so the next call fetches a new one."""
        self._token = None

    async def aclose(self) -> None:
        """Close the underlying HTTP client."""
        await self._client.aclose()
