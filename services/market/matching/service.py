"""Suggestions: published demands for an achievement, published achievements for a demand, ranked with reasons.

One request = one read of the listing, one call to the search service's similarity endpoint (the top MAX_DEPTH
candidates), one batched read of those candidates from market's tables (the truth: search may still hold a
listing that was withdrawn, expired or changed owner), then pure scoring. Pages are slices of that ranking: the
cursor carries the offset, so every page re-ranks the same candidates and, while the listings do not change,
pages neither repeat nor skip an item.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.market.directory import service as directory
from services.market.directory.schemas import OrganizationCard
from services.market.listings import service as listings_service
from services.market.listings.kinds import ACHIEVEMENT, DEMAND, ListingKind
from services.market.listings.models import Achievement, Demand, Listing
from services.market.listings.repository import ListingRepository
from services.market.matching.client import SearchClient, SimilarHit
from services.market.matching.models import COLUMNS, side_of
from services.market.matching.repository import MatchingRepository
from services.market.matching.schemas import (
    AchievementCard,
    AchievementSuggestion,
    AchievementSuggestionPage,
    DemandCard,
    DemandSuggestion,
    DemandSuggestionPage,
)
from services.market.matching.scoring import Assessment, assess
from shared.clock import today_in_china
from shared.errors import Forbidden, NotFound
from shared.pagination import decode_cursor, encode_cursor, invalid_cursor
from shared.security import Principal, acts_as_broker

__all__ = ["MAX_DEPTH", "SUGGESTIBLE_STATUS", "query_text", "suggestions"]

# How deep the ranking goes: the candidates of one search call (its largest page). Deeper suggestions are rarely
# looked at, and a fixed depth keeps every page of one listing a slice of the same ranking.
MAX_DEPTH = 50
# Only listings in this status are suggested: not drafts, not withdrawn or expired ones, nor those already under
# negotiation, matched, transferred or closed.
SUGGESTIBLE_STATUS = "published"
MAX_TEXT_CHARS = 4000  # the search contract's limit on ``text``
SUMMARY_CHARS = 200  # cards show this much of the summary (a demand has none: of its description)
COUNTERPART = {ACHIEVEMENT.name: DEMAND, DEMAND.name: ACHIEVEMENT}


def query_text(row: Listing) -> str:
    """What search compares: title, keywords, then the summary (or, without one, the description); search keeps
    the text's most salient words."""
    if isinstance(row, Achievement):
        body = row.summary or row.description
    else:
        assert isinstance(row, Demand)
        body = row.description
    parts = [row.title, " ".join(row.keywords), body or ""]
    return "\n".join(part for part in parts if part)[:MAX_TEXT_CHARS]


def _offset_of(cursor: str | None, listing_id: uuid.UUID) -> int:
    if cursor is None:
        return 0
    owner, offset = decode_cursor(cursor, types=(uuid.UUID, int))
    if owner != listing_id or not 0 < offset < MAX_DEPTH:
        raise invalid_cursor("not a cursor of these suggestions")
    return int(offset)


async def _subject(session: AsyncSession, *, kind: ListingKind, principal: Principal, listing_id: uuid.UUID) -> Listing:
    """The listing to find counterparts for, if the caller may ask: 404 when they may not see it, 403 when they
    see it but are neither of its organization, nor a broker, nor a platform admin."""
    row = await ListingRepository(session, kind.model).get(listing_id)
    access = "none" if row is None else listings_service.access_of(kind, principal, row)
    if row is None or access == "none":
        raise NotFound(f"No {kind.name} {listing_id} that you can see.")
    # The broker role exists only in transfer institutions, sub-centers and the center (auth enforces it).
    if access != "private" and not acts_as_broker(principal):
        raise Forbidden(
            f"Suggestions for a {kind.name} are for its organization, brokers and platform admins.",
            slug="suggestions-not-allowed",
        )
    return row


def _card(kind: ListingKind, row: Any, hit: SimilarHit, owner: OrganizationCard | None) -> AchievementCard | DemandCard:
    """The public card of a candidate row (read with ``COLUMNS[kind.name]`` and a cut ``summary``); the owner's name
    from market's directory (the search index's copy while the directory does not know the owner)."""
    columns = COLUMNS[kind.name]
    data = {name: getattr(row, name) for name in columns.names if not name.startswith(columns.money)}
    data[columns.money] = {part: getattr(row, f"{columns.money}_{part}") for part in ("kind", "min_fen", "max_fen")}
    data |= {"summary": row.summary, "owner_org_name": owner.name if owner is not None else hit.owner_org_name}
    if kind is ACHIEVEMENT:
        return AchievementCard.model_validate(data)
    return DemandCard.model_validate(data)


async def suggestions(
    *,
    session: AsyncSession,
    search: SearchClient,
    kind: ListingKind,
    principal: Principal,
    listing_id: uuid.UUID,
    limit: int,
    cursor: str | None,
) -> AchievementSuggestionPage | DemandSuggestionPage:
    """A page of the ranked counterparts of one listing, each with its score and reasons."""
    offset = _offset_of(cursor, listing_id)
    row = await _subject(session, kind=kind, principal=principal, listing_id=listing_id)
    other = COUNTERPART[kind.name]
    result = await search.similar(
        plural=other.plural,
        body={
            "text": query_text(row),
            "limit": MAX_DEPTH,
            "offset": 0,
            "exclude_owner_org": str(row.owner_org_id),
            "exclude_ids": [str(row.id)],
        },
    )
    found = await MatchingRepository(session, other.model).suggestible(
        [hit.id for hit in result.hits],
        columns=COLUMNS[other.name],
        summary_chars=SUMMARY_CHARS,
        status=SUGGESTIBLE_STATUS,
        expiry_field=other.expiry_field,
        today=today_in_china(),
        not_owner_org_id=row.owner_org_id,
        not_id=row.id,
    )
    rows = {candidate.id: candidate for candidate in found}
    mine = side_of(kind.name, row)
    ranked: list[tuple[Assessment, Any, SimilarHit]] = []
    for hit in result.hits:
        candidate = rows.pop(hit.id, None)  # pop: a repeated hit counts once
        if candidate is None:
            continue
        theirs = side_of(other.name, candidate)
        offer, want = (mine, theirs) if kind is ACHIEVEMENT else (theirs, mine)
        ranked.append((assess(offer=offer, want=want, hit=hit), candidate, hit))
    # Stable sort: equal scores keep the search service's order.
    ranked.sort(key=lambda entry: (-entry[0].score, -entry[0].relevance))
    end = offset + limit
    # Cards and reasons are built for the page only; every candidate's score is needed for the order.
    suggestion, page = (
        (AchievementSuggestion, AchievementSuggestionPage)
        if other is ACHIEVEMENT
        else (DemandSuggestion, DemandSuggestionPage)
    )
    page_ranked = ranked[offset:end]
    owners = await directory.get_many(session=session, ids={candidate.owner_org_id for _, candidate, _ in page_ranked})
    items = [
        suggestion(
            listing=_card(other, candidate, hit, owners.get(candidate.owner_org_id)),
            score=assessed.score,
            relevance=assessed.relevance,
            fit=assessed.fit,
            reasons=assessed.reasons(),
        )
        for assessed, candidate, hit in page_ranked
    ]
    next_cursor = encode_cursor(str(listing_id), end) if end < len(ranked) else None
    return page(items=items, next_cursor=next_cursor, semantic=result.semantic)
