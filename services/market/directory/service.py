"""Reading the directory and applying auth's changes to it (upsert-if-newer)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.market.directory.repository import DirectoryRepository
from services.market.directory.schemas import Applied, OrganizationCard

__all__ = [
    "apply",
    "certified_broker_cards",
    "count_certified_brokers",
    "count_demonstration_institutions",
    "demonstration_institutions",
    "get",
    "get_many",
    "sub_center_of",
    "under",
    "valid_certificates",
    "verified_by_credit_code",
]


async def get(*, session: AsyncSession, org_id: uuid.UUID) -> OrganizationCard | None:
    """What market knows of one organization (None if auth never published it)."""
    return await DirectoryRepository(session).get(org_id)


async def get_many(*, session: AsyncSession, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, OrganizationCard]:
    """The known organizations among ``ids``, by id."""
    return await DirectoryRepository(session).get_many(ids)


async def verified_by_credit_code(*, session: AsyncSession, codes: Iterable[str]) -> dict[str, OrganizationCard]:
    """The verified organizations holding the (normalized) credit codes ``codes``, by code."""
    return await DirectoryRepository(session).verified_by_credit_code(codes)


async def apply(*, session: AsyncSession, cards: Sequence[OrganizationCard]) -> list[Applied]:
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


async def under(*, session: AsyncSession, path: str) -> list[OrganizationCard]:
    """Every known organization at ``path`` or below it in the 1+4+N tree, in path order."""
    return await DirectoryRepository(session).under(path)


# Demonstration institutions (示范机构) and certified brokers (技术经纪人), counted from the cards auth publishes.
# Only verified organizations count. A designation counts on ``on`` when its year is ``on``'s year or earlier and it
# is not revoked (the card knows whether it is revoked now, not since when: a revoked one counts on no day). A
# broker certificate counts on ``on`` when its last valid day is ``on`` or later; certificates without a recorded
# end are not on the cards and are not counted. ``region_prefixes`` keep organizations whose region code starts
# with one of them (["51"] Sichuan, ["50"] Chongqing, ["5101"] Chengdu; None: anywhere, []: nowhere), ``org_path``
# those at or below a node of the 1+4+N tree.


async def count_demonstration_institutions(
    *, session: AsyncSession, on: dt.date, region_prefixes: list[str] | None, org_path: str | None
) -> int:
    """How many demonstration institutions there are on ``on`` (designated that year or earlier, not revoked)."""
    return await DirectoryRepository(session).count_designated(
        year=on.year, region_prefixes=region_prefixes, org_path=org_path
    )


async def count_certified_brokers(
    *, session: AsyncSession, on: dt.date, region_prefixes: list[str] | None, org_path: str | None
) -> int:
    """How many broker certificates are valid on ``on`` (one per broker membership)."""
    cards = await DirectoryRepository(session).with_broker_certificates(
        region_prefixes=region_prefixes, org_path=org_path
    )
    return sum(valid_certificates(card, on=on) for card in cards)


async def demonstration_institutions(
    *, session: AsyncSession, on: dt.date, region_prefixes: list[str] | None, org_path: str | None
) -> list[OrganizationCard]:
    """The cards :func:`count_demonstration_institutions` counts, in path order."""
    return await DirectoryRepository(session).designated(
        year=on.year, region_prefixes=region_prefixes, org_path=org_path
    )


async def certified_broker_cards(
    *, session: AsyncSession, on: dt.date, region_prefixes: list[str] | None, org_path: str | None
) -> list[OrganizationCard]:
    """The cards with at least one broker certificate valid on ``on``, in path order."""
    cards = await DirectoryRepository(session).with_broker_certificates(
        region_prefixes=region_prefixes, org_path=org_path
    )
    return [card for card in cards if valid_certificates(card, on=on)]


def valid_certificates(card: OrganizationCard, *, on: dt.date) -> int:
    """How many of the card's broker certificates are valid on ``on``."""
    return sum(1 for valid_until in card.broker_certificates_valid_until if valid_until >= on)


async def sub_center_of(
    *, session: AsyncSession, cards: Sequence[OrganizationCard]
) -> dict[uuid.UUID, OrganizationCard | None]:
    """For each card, the sub-center whose subtree holds it (itself when it is one), or None (directly under the
    center, or the center itself)."""
    ancestors = {uuid.UUID(part) for card in cards for part in card.path.strip("/").split("/") if part}
    known = await DirectoryRepository(session).get_many(ancestors)
    found: dict[uuid.UUID, OrganizationCard | None] = {}
    for card in cards:
        found[card.id] = None
        for part in card.path.strip("/").split("/"):
            ancestor = card if part == str(card.id) else known.get(uuid.UUID(part))
            if ancestor is not None and ancestor.kind == "sub_center":
                found[card.id] = ancestor
                break
    return found
