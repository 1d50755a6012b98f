"""Reading the directory and applying auth's changes to it (upsert-if-newer)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.market.directory.repository import DirectoryRepository
from services.market.directory.schemas import Applied, OrganizationCard

__all__ = ["apply", "get", "get_many", "under", "verified_by_credit_code"]


async def get(session: AsyncSession, org_id: uuid.UUID) -> OrganizationCard | None:
    """What market knows of one organization (None if auth never published it)."""
    return await DirectoryRepository(session).get(org_id)


async def get_many(session: AsyncSession, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, OrganizationCard]:
    """The known organizations among ``ids``, by id."""
    return await DirectoryRepository(session).get_many(ids)


async def verified_by_credit_code(session: AsyncSession, codes: Iterable[str]) -> dict[str, OrganizationCard]:
    """The verified organizations holding the (normalized) credit codes ``codes``, by code."""
    return await DirectoryRepository(session).verified_by_credit_code(codes)


async def apply(session: AsyncSession, cards: Sequence[OrganizationCard]) -> list[Applied]:
    """Store every card newer than what is stored (in the order given); returns the changes that took effect.

    A card whose version is not newer is a replay or arrived after a later one: it changes nothing.
    """
    repository = DirectoryRepository(session)
    applied: list[Applied] = []
    for card in cards:
        before = await repository.get(card.id, for_update=True)
        if before is not None and before.version >= card.version:
            continue
        if await repository.upsert_if_newer(card):
            applied.append(Applied(before=before, after=card))
    return applied


async def under(session: AsyncSession, path: str) -> list[OrganizationCard]:
    """Every known organization at ``path`` or below it in the 1+4+N tree, in path order."""
    return await DirectoryRepository(session).under(path)
