"""Rebuild the organization directory from auth's API (``techmarket market directory-rebuild``).

Pages through ``GET {auth_url}/organizations`` with a client_credentials token of the relay's client asking
``auth:directory`` (auth lists every organization, whatever its status, to that scope), the way search's reindex
pages through market's lists. Every organization goes through the same upsert-if-newer path as a relay document,
with the same consequences (services.market.directory_feed.service), one transaction per page: an organization market
already has at that version or a newer one is left alone, so the rebuild is safe to run while the relay delivers,
and running it twice changes nothing the second time.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.market.directory.schemas import OrganizationCard, OrganizationFields
from services.market.directory_feed import service as feed
from services.market.settings import MarketSettings
from shared.db import create_engine, create_sessionmaker
from shared.paged import PagedLists
from shared.pagination import MAX_LIMIT
from shared.service_token import ServiceTokenProvider, TokenSource

__all__ = ["AUTH_DIRECTORY_SCOPE", "AuthDirectoryClient", "RebuildReport", "rebuild", "run_directory_rebuild"]

logger = logging.getLogger("techmarket.market.directory")

AUTH_DIRECTORY_SCOPE = "auth:directory"
# The largest page auth's lists serve (shared.pagination).
PAGE_LIMIT = MAX_LIMIT


@dataclass
class RebuildReport:
    """What a rebuild did."""

    listed: int = 0
    applied: int = 0
    stale: int = 0
    invalid: int = 0
    offices: int = 0
    listings: int = 0


class AuthDirectoryClient:
    """Pages through GET {auth_url}/organizations: ``{items, next_cursor}``."""

    def __init__(self, *, http: httpx.AsyncClient, base_url: str, tokens: TokenSource) -> None:
        self._lists = PagedLists(http=http, base_url=base_url, tokens=tokens)

    def pages(self) -> AsyncIterator[list[dict[str, Any]]]:
        """Every organization auth lists, one page at a time."""
        return self._lists.pages("/organizations", {"limit": PAGE_LIMIT})


def card_of(item: dict[str, Any]) -> OrganizationCard | None:
    """The card of one listed organization, or None (logged) when it does not validate."""
    # An auth that predates versioned organizations lists none: such an organization is taken as its version 1,
    # which fills a gap in the directory but never overwrites anything the relay delivered.
    fields = item if "version" in item else {**item, "version": 1}
    try:
        return OrganizationFields.model_validate(fields).card()
    except PydanticValidationError as exc:
        logger.warning("skipping an organization auth listed that does not validate: %s", exc)
        return None


async def rebuild(*, sessionmaker: async_sessionmaker[AsyncSession], auth: AuthDirectoryClient) -> RebuildReport:
    """Apply every organization auth lists, one transaction per page."""
    report = RebuildReport()
    async for items in auth.pages():
        cards = [card for card in (card_of(item) for item in items) if card is not None]
        report.listed += len(items)
        report.invalid += len(items) - len(cards)
        async with sessionmaker() as session, session.begin():
            done = await feed.apply_cards(session=session, cards=cards)
        report.applied += done.applied
        report.stale += done.stale
        report.offices += done.offices
        report.listings += done.listings
    return report


async def run_directory_rebuild(
    settings: MarketSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> RebuildReport:
    """Rebuild the directory of the market database in ``settings`` from {auth_url}/organizations.

    ``transport`` carries the calls to auth (in-process when embedded, in tests).
    """
    tokens = ServiceTokenProvider(
        token_url=settings.auth_url.rstrip("/") + "/token",
        client_id=settings.relay_client_id,
        client_secret=settings.relay_client_secret.get_secret_value(),
        scope=AUTH_DIRECTORY_SCOPE,
        transport=transport,
    )
    engine = create_engine(settings.resolved_database_url)
    try:
        async with httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(30.0)) as http:
            auth = AuthDirectoryClient(http=http, base_url=settings.auth_url, tokens=tokens)
            return await rebuild(sessionmaker=create_sessionmaker(engine), auth=auth)
    finally:
        await tokens.aclose()
        await engine.dispose()
