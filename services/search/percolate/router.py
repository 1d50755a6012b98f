"""POST /{kind}/percolate: which of up to 1000 stored queries a listing matches (service token only)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path

from services.search.deps import SegmenterDep
from services.search.percolate import service
from services.search.percolate.schemas import PercolatePublic, PercolateRequest
from shared.errors import problem_responses
from shared.security import Principal, require_scopes

__all__ = ["router"]

router = APIRouter(tags=["search"])

IngestCaller = Annotated[Principal, Depends(require_scopes("search:ingest"))]
PluralKind = Annotated[
    Literal["achievements", "demands"], Path(description="achievements or demands: the listing's kind.")
]
_KINDS: dict[str, Literal["achievement", "demand"]] = {"achievements": "achievement", "demands": "demand"}


@router.post(
    "/{kind}/percolate",
    summary="Which stored queries a listing matches (saved-search alerts)",
    description=(
        "Called by market with a service token carrying the `search:ingest` scope, when a listing is published or "
        "changed: the listing's ingestion document (as POSTed to /documents) and up to 1000 queries (q, the "
        "search API's filters and matching strategy, each under an opaque key). A query matches exactly when "
        "GET /achievements (or /demands) with the same q, filters and strategy would return the listing, whatever "
        "else is published; `frequency` is refused (422) as it depends on the whole index. Each match carries a "
        "snippet and the query words the listing holds; a delete or an unpublished listing matches nothing. "
        "Queries are validated as the search API validates them (422 on `queries.{index}.{field}`)."
    ),
    response_model=PercolatePublic,
    responses=problem_responses(400, 401, 403, 413, 422),
)
async def percolate(
    kind: PluralKind, body: PercolateRequest, segmenter: SegmenterDep, _caller: IngestCaller
) -> PercolatePublic:
    # CPU-bound (up to 1000 queries matched): off the event loop.
    matches = await asyncio.to_thread(
        service.percolate, segmenter=segmenter, kind=_KINDS[kind], document=body.document, queries=body.queries
    )
    return PercolatePublic(matches=matches)
