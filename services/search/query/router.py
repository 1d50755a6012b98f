"""GET /achievements and GET /demands: public full-text search (no token needed)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from services.search.deps import EngineDep, SegmenterDep
from services.search.engines.base import FACET_FIELDS, SearchQuery
from services.search.query import service
from services.search.query.schemas import AchievementHit, DemandHit, SearchResponse
from shared.errors import problem_responses

__all__ = ["MAX_OFFSET", "MAX_QUERY_CHARS", "router"]

MAX_QUERY_CHARS = 200
MAX_OFFSET = 1000
_CODE = r"^[a-z][a-z0-9_]{0,31}$"

router = APIRouter(tags=["search"])

Q = Annotated[
    str,
    Query(max_length=MAX_QUERY_CHARS, description="Words to find (Chinese is segmented); empty lists everything."),
]
TechnicalField = Annotated[str | None, Query(description="One of the 11 technical field codes, e.g. new_energy.")]
Region = Annotated[
    str | None,
    Query(
        description=("GB/T 2260 code; a province (510000) or prefecture (510100) code matches every region below it.")
    ),
]
TrlMin = Annotated[int | None, Query(ge=1, le=9, description="Lowest technology readiness level.")]
TrlMax = Annotated[int | None, Query(ge=1, le=9, description="Highest technology readiness level.")]
AmountMin = Annotated[int | None, Query(ge=0, description="Lower bound in fen; ranges overlapping it match.")]
AmountMax = Annotated[int | None, Query(ge=0, description="Upper bound in fen; ranges overlapping it match.")]
CodeParam = Annotated[str | None, Query(pattern=_CODE, description="A code as market defines it.")]
OwnerOrg = Annotated[uuid.UUID | None, Query(description="Only this organization's documents.")]
Sort = Annotated[
    Literal["relevance", "newest", "price"],
    Query(description="relevance (default; newest without q), newest, or price (lowest first)."),
]
Limit = Annotated[int, Query(ge=1, le=100, description="Hits per page, 1 to 100.")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description=f"Hits to skip, up to {MAX_OFFSET}.")]


def _facets_param(kind: Literal["achievement", "demand"]) -> Any:
    return Query(description=f"Comma-separated facets to count: {', '.join(FACET_FIELDS[kind])}.")


def _response(
    hit_model: type[AchievementHit] | type[DemandHit], query: SearchQuery, timed: service.TimedResult
) -> dict[str, Any]:
    result = timed.result
    return {
        "hits": [
            hit_model.model_validate({**hit.card, "id": hit.id, "snippet": hit.snippet, "score": hit.score})
            for hit in result.hits
        ],
        "total": result.total,
        "total_is_exact": result.total_is_exact,
        "limit": query.limit,
        "offset": query.offset,
        "facets": result.facets,
        "processing_time_ms": timed.elapsed_ms,
    }


@router.get(
    "/achievements",
    summary="Search published achievements (科技成果)",
    description=(
        "Full-text search over published achievements (and those under negotiation), Chinese words segmented; a "
        "two-character word also finds longer words containing it (处理 finds 待处理). Filters combine with AND; "
        "`facets` adds counts per value over all matches. Public: no token needed."
    ),
    response_model=SearchResponse[AchievementHit],
    responses=problem_responses(422),
)
async def search_achievements(
    engine: EngineDep,
    segmenter: SegmenterDep,
    q: Q = "",
    technical_field: TechnicalField = None,
    region: Region = None,
    trl_min: TrlMin = None,
    trl_max: TrlMax = None,
    price_min_fen: AmountMin = None,
    price_max_fen: AmountMax = None,
    ip_type: CodeParam = None,
    transfer_mode: CodeParam = None,
    owner_org: OwnerOrg = None,
    facets: Annotated[str | None, _facets_param("achievement")] = None,
    sort: Sort = "relevance",
    limit: Limit = 20,
    offset: Offset = 0,
) -> dict[str, Any]:
    query = SearchQuery(
        kind="achievement",
        q=q.strip(),
        technical_field=technical_field,
        region=region,
        trl_min=trl_min,
        trl_max=trl_max,
        amount_min_fen=price_min_fen,
        amount_max_fen=price_max_fen,
        ip_type=ip_type,
        mode=transfer_mode,
        owner_org_id=str(owner_org) if owner_org else None,
        facets=service.parse_facets("achievement", facets),
        sort=sort,
        limit=limit,
        offset=offset,
    )
    service.validate_query(query, amount_names=("price_min_fen", "price_max_fen"))
    timed = await service.run_search(engine=engine, segmenter=segmenter, query=query)
    return {**_response(AchievementHit, query, timed), "engine": engine.name}


@router.get(
    "/demands",
    summary="Search published demands (技术需求)",
    description=(
        "Full-text search over published demands, with the same segmentation, filters and facets as achievements; "
        "the amount filter is the budget and the mode filter the cooperation mode. Public: no token needed."
    ),
    response_model=SearchResponse[DemandHit],
    responses=problem_responses(422),
)
async def search_demands(
    engine: EngineDep,
    segmenter: SegmenterDep,
    q: Q = "",
    technical_field: TechnicalField = None,
    region: Region = None,
    trl_min: TrlMin = None,
    trl_max: TrlMax = None,
    budget_min_fen: AmountMin = None,
    budget_max_fen: AmountMax = None,
    cooperation_mode: CodeParam = None,
    owner_org: OwnerOrg = None,
    facets: Annotated[str | None, _facets_param("demand")] = None,
    sort: Sort = "relevance",
    limit: Limit = 20,
    offset: Offset = 0,
) -> dict[str, Any]:
    query = SearchQuery(
        kind="demand",
        q=q.strip(),
        technical_field=technical_field,
        region=region,
        trl_min=trl_min,
        trl_max=trl_max,
        amount_min_fen=budget_min_fen,
        amount_max_fen=budget_max_fen,
        mode=cooperation_mode,
        owner_org_id=str(owner_org) if owner_org else None,
        facets=service.parse_facets("demand", facets),
        sort=sort,
        limit=limit,
        offset=offset,
    )
    service.validate_query(query, amount_names=("budget_min_fen", "budget_max_fen"))
    timed = await service.run_search(engine=engine, segmenter=segmenter, query=query)
    return {**_response(DemandHit, query, timed), "engine": engine.name}
