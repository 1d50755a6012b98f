"""GET /achievements/{id}/suggestions and GET /demands/{id}/suggestions: ranked counterparts with reasons.

No `from __future__ import annotations` here: FastAPI resolves the endpoint signatures at runtime.
"""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from services.market.listings.kinds import ACHIEVEMENT, DEMAND, ListingKind
from services.market.matching import service as matching_service
from services.market.matching.client import SearchClientDep
from services.market.matching.schemas import AchievementSuggestionPage, DemandSuggestionPage
from shared.db import ReadSessionDep
from shared.errors import problem_responses
from shared.pagination import Cursor
from shared.security import CurrentPrincipal

__all__ = ["router"]

MAX_SUGGESTIONS_LIMIT = 50

router = APIRouter(tags=["suggestions"])

ListingId = Annotated[uuid.UUID, Path(description="The listing id (UUIDv7).")]
SuggestionLimit = Annotated[
    int, Query(ge=1, le=MAX_SUGGESTIONS_LIMIT, description=f"Suggestions per page, 1 to {MAX_SUGGESTIONS_LIMIT}.")
]

_RESPONSES = problem_responses(401, 403, 404, 422, 503)
_RESPONSES[503]["description"] = "The search service is unavailable (`search-unavailable`, with Retry-After)"


def _description(kind: ListingKind, other: ListingKind) -> str:
    return (
        f"Published {other.plural} ({other.label_zh}) that may answer this {kind.name}, best first, each with a score "
        "in 0..1 and the reasons behind it: shared words (`text`), semantic similarity (`semantic`), technical field, "
        "IPC subclasses, TRL, price against budget, region and transfer/cooperation modes. Misfits are shown with "
        "their reason, not hidden; the listing's own organization's listings never are. "
        f"Allowed: members of the {kind.name}'s organization, brokers (of a transfer institution, sub-center or the "
        f"center) and platform admins; a {kind.name} the caller may not see is 404, a public one they may not ask "
        f"about 403. The ranking goes {matching_service.MAX_DEPTH} deep: `next_cursor` is null after the "
        f"{matching_service.MAX_DEPTH}th suggestion. Ranking: docs/market.md, section Suggestions."
    )


def _add(kind: ListingKind, other: ListingKind, page: type[AchievementSuggestionPage | DemandSuggestionPage]) -> None:
    @router.get(
        f"/{kind.plural}/{{listing_id}}/suggestions",
        response_model=page,
        name=f"{kind.name}_suggestions",
        summary=f"Suggested {other.plural} for a {kind.name}",
        description=_description(kind, other),
        responses=_RESPONSES,
    )
    async def suggestions(
        listing_id: ListingId,
        # Read-only: no write lock (SQLite) nor open transaction (PostgreSQL) is held while search answers;
        # the two reads stand alone (the candidates are re-checked against the live rows anyway).
        session: ReadSessionDep,
        principal: CurrentPrincipal,
        search: SearchClientDep,
        limit: SuggestionLimit = 10,
        cursor: Cursor = None,
    ) -> Any:
        return await matching_service.suggestions(
            session=session,
            search=search,
            kind=kind,
            principal=principal,
            listing_id=listing_id,
            limit=limit,
            cursor=cursor,
        )


_add(ACHIEVEMENT, DEMAND, DemandSuggestionPage)
_add(DEMAND, ACHIEVEMENT, AchievementSuggestionPage)
