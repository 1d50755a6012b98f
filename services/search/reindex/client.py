"""The market service as the reindexer sees it: paged public lists, read with a service token (market:read)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx

from services.search.engines.base import Kind
from shared.paged import PagedLists
from shared.service_token import TokenSource

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


class MarketClient:
    """Pages through GET {market_url}/achievements and /demands: ``{items, next_cursor}``."""

    def __init__(self, *, http: httpx.AsyncClient, base_url: str, tokens: TokenSource) -> None:
        self._lists = PagedLists(http=http, base_url=base_url, tokens=tokens)

    async def pages(self, kind: Kind) -> AsyncIterator[list[dict[str, Any]]]:
        """Every listed item of ``kind``, one page at a time."""
        for status in LIST_STATUSES[kind]:
            first_page = True
            try:
                async for items in self._lists.pages(PATHS[kind], {"status": status, "limit": PAGE_LIMIT}):
                    first_page = False
                    yield [_with_owner_fields(item) for item in items]
            except httpx.HTTPStatusError as exc:
                if not (first_page and exc.response.status_code == 422 and status != "published"):
                    raise
                logger.warning("market does not list %s %ss; skipped", status, kind)
