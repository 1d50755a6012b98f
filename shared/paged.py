"""Reading another service's paged lists (``{items, next_cursor}``, see shared.pagination) with a service token.

Market's directory rebuild pages through auth's organizations, search's reindex through market's listings: both
walk the cursors the same way and fetch a new token once when a call comes back 401 (the token may have been
revoked, or the signing key rotated).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from shared.service_token import TokenSource

__all__ = ["PagedLists"]


class PagedLists:
    """GET the pages of lists under ``base_url`` with ``tokens``' bearer token."""

    def __init__(self, *, http: httpx.AsyncClient, base_url: str, tokens: TokenSource) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._tokens = tokens

    async def get(self, path: str, params: dict[str, Any]) -> httpx.Response:
        """One GET; on a 401 a new token is fetched and the call repeated, once."""
        response = await self._http.get(self._base_url + path, params=params, headers=await self._tokens.headers())
        if response.status_code == 401:
            self._tokens.invalidate()
            response = await self._http.get(self._base_url + path, params=params, headers=await self._tokens.headers())
        return response

    async def pages(self, path: str, params: dict[str, Any]) -> AsyncIterator[list[dict[str, Any]]]:
        """The items of every page of ``path`` (``params`` plus each page's cursor), one page at a time.

        A page that is not a 2xx raises :class:`httpx.HTTPStatusError`.
        """
        cursor: str | None = None
        while True:
            response = await self.get(path, {**params, "cursor": cursor} if cursor else params)
            response.raise_for_status()
            body = response.json()
            yield [item for item in body.get("items") or [] if isinstance(item, dict)]
            cursor = body.get("next_cursor")
            if not cursor:
                return
