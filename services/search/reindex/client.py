"""The market service as the reindexer sees it: paged public lists, read with a service token (market:read)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, Protocol

import httpx

from services.search.engines.base import Kind

__all__ = ["LIST_STATUSES", "MarketClient", "TokenSource"]

logger = logging.getLogger("techmarket.search.reindex")

PAGE_LIMIT = 100
# The statuses to list per kind: the searchable ones. A status the market list does not accept as a filter
# (422) is skipped with a warning rather than failing the whole rebuild.
LIST_STATUSES: dict[Kind, tuple[str, ...]] = {
    "achievement": ("published", "negotiating"),
    "demand": ("published",),
}
PATHS: dict[Kind, str] = {"achievement": "/achievements", "demand": "/demands"}


def _with_owner_fields(item: dict[str, Any]) -> dict[str, Any]:
    """Market's list item with its ``owner`` card flattened to the document's owner_org_name and owner_org_kind
    (the names the relay's documents use)."""
    owner = item.get("owner")
    if not isinstance(owner, dict):
        return item
    return {**item, "owner_org_name": owner.get("name"), "owner_org_kind": owner.get("kind")}


class TokenSource(Protocol):
    """What the client needs of :class:`shared.service_token.ServiceTokenProvider`."""

    async def headers(self) -> dict[str, str]: ...

    def invalidate(self) -> None: ...


class MarketClient:
    """Pages through GET {market_url}/achievements and /demands: ``{items, next_cursor}``."""

    def __init__(self, *, http: httpx.AsyncClient, base_url: str, tokens: TokenSource) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._tokens = tokens

    async def _get(self, path: str, params: dict[str, Any]) -> httpx.Response:
        response = await self._http.get(self._base_url + path, params=params, headers=await self._tokens.headers())
        if response.status_code == 401:
            # The token may have been revoked or the signing key rotated: fetch a new one, once.
            self._tokens.invalidate()
            response = await self._http.get(self._base_url + path, params=params, headers=await self._tokens.headers())
        return response

    async def pages(self, kind: Kind) -> AsyncIterator[list[dict[str, Any]]]:
        """Every listed item of ``kind``, one page at a time."""
        for status in LIST_STATUSES[kind]:
            cursor: str | None = None
            while True:
                params: dict[str, Any] = {"status": status, "limit": PAGE_LIMIT}
                if cursor:
                    params["cursor"] = cursor
                response = await self._get(PATHS[kind], params)
                if response.status_code == 422 and status != "published" and cursor is None:
                    logger.warning("market does not list %s %ss; skipped", status, kind)
                    break
                response.raise_for_status()
                body = response.json()
                items = body.get("items") or []
                yield [_with_owner_fields(item) for item in items if isinstance(item, dict)]
                cursor = body.get("next_cursor")
                if not cursor:
                    break
