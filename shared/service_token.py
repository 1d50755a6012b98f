"""Service-to-service access tokens: OAuth2 client_credentials against the auth service, refreshed before expiry.

Used by the market outbox relay (scope ``search:ingest``) and by the search reindexer (scope ``market:read``).
Built on authlib's httpx OAuth2 client; the client authenticates with HTTP Basic (client_secret_basic).
authlib's client is built on ``httpx2``, not ``httpx``: an ``httpx`` transport (the embedded app's in-process
ASGITransport, a test's MockTransport) is adapted so callers keep passing the transports they already have.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

import httpx
import httpx2
from authlib.integrations.httpx_client import AsyncOAuth2Client

__all__ = ["ServiceTokenProvider", "TokenSource"]

REFRESH_LEEWAY_SECONDS = 60


class TokenSource(Protocol):
    """Where a caller gets its bearer token (:class:`ServiceTokenProvider` in production, a stub in tests)."""

    async def headers(self) -> dict[str, str]: ...

    def invalidate(self) -> None: ...


class ServiceTokenProvider:
    """Hands out a valid bearer token for a service client, fetching a new one shortly before expiry."""

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str,
        transport: httpx.AsyncBaseTransport | httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self._token_url = token_url
        self._scope = scope
        self._client = AsyncOAuth2Client(
            client_id=client_id,
            client_secret=client_secret,
            token_endpoint_auth_method="client_secret_basic",  # noqa: S106  (a method name, not a secret)
            scope=scope,
            transport=_HttpxTransport(transport) if isinstance(transport, httpx.AsyncBaseTransport) else transport,
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


class _HttpxTransport(httpx2.AsyncBaseTransport):
    """An ``httpx`` transport seen through ``httpx2``'s transport interface (bodies are small: token requests)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = await request.aread()
        response = await self._inner.handle_async_request(
            httpx.Request(request.method, str(request.url), headers=list(request.headers.multi_items()), content=body)
        )
        try:
            content = await response.aread()
        finally:
            await response.aclose()
        # aread() already decoded any content-encoding; do not let httpx2 decode it twice.
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() != "content-encoding"]
        return httpx2.Response(response.status_code, headers=headers, content=content, request=request)
