"""Endpoints of /market/saved-searches: the caller's saved searches (thin: parse, call, shape)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Path, Request, Response
from fastapi.responses import JSONResponse

from services.market.concurrency import etag_for
from services.market.idempotency import IdempotencyDep, StoredResponse
from services.market.saved_searches import service
from services.market.saved_searches.models import SavedSearch
from services.market.saved_searches.schemas import SavedSearchCreate, SavedSearchPublic, SavedSearchUpdate
from services.market.settings import MarketSettings
from shared.concurrency import OptionalIfMatchHeader
from shared.db import SessionDep
from shared.errors import problem_responses
from shared.pagination import DEFAULT_LIMIT, Cursor, Limit, Page
from shared.security import CurrentPrincipal

__all__ = ["router"]

router = APIRouter(prefix="/saved-searches", tags=["saved-searches"])

SavedSearchId = Annotated[uuid.UUID, Path(description="The saved search id (UUIDv7).")]


def _with_etag(response: Response, row: SavedSearch) -> SavedSearchPublic:
    response.headers["ETag"] = etag_for(row.version)
    return service.to_public(row)


@router.post(
    "",
    status_code=201,
    response_model=SavedSearchPublic,
    name="create_saved_search",
    summary="Save a search that alerts on new matching listings",
    description=(
        "Saves q and the search API's filters (the names of GET /search/achievements or /search/demands, by "
        "`kind`) for the caller acting for their organization. When a listing of another organization is "
        "published or materially changed and matches, the search alerts once per listing (`channel` inbox or "
        "webhook; `frequency` instant or a daily digest at 09:00 Asia/Shanghai). Send an Idempotency-Key to make retries "
        "safe. A search with neither q nor a "
        "filter, trl_min > trl_max, a lower amount above the upper one, a filter of the other kind or matching "
        "`frequency` is a 422 naming the field; beyond the per-user limit a 409. Answers 201 with Location and ETag."
    ),
    responses=problem_responses(401, 409, 422),
)
async def create_saved_search(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    idempotency: IdempotencyDep,
    payload: Annotated[SavedSearchCreate, Body()],
) -> JSONResponse:
    settings: MarketSettings = request.app.state.settings

    async def run() -> StoredResponse:
        row = await service.create_saved_search(
            session=session, principal=principal, payload=payload, cap=settings.saved_searches_per_user
        )
        location = request.url_for("get_saved_search", search_id=str(row.id)).path
        body = service.to_public(row).model_dump(mode="json")
        return StoredResponse(201, body, {"Location": location, "ETag": etag_for(row.version)})

    return await idempotency.replay_or_run(session, run)


@router.get(
    "",
    response_model=Page[SavedSearchPublic],
    name="list_saved_searches",
    summary="The caller's saved searches",
    description="The searches the caller saved while acting for their current organization, newest first, "
    "cursor-paginated.",
    responses=problem_responses(401, 422),
)
async def list_saved_searches(
    session: SessionDep, principal: CurrentPrincipal, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Page[SavedSearchPublic]:
    return await service.list_saved_searches(session=session, principal=principal, limit=limit, cursor=cursor)


@router.get(
    "/{search_id}",
    response_model=SavedSearchPublic,
    name="get_saved_search",
    summary="One of the caller's saved searches",
    description="With its alert counters and an ETag. 404 for a search of anyone else.",
    responses=problem_responses(401, 404, 422),
)
async def get_saved_search(
    search_id: SavedSearchId, session: SessionDep, principal: CurrentPrincipal, response: Response
) -> SavedSearchPublic:
    row = await service.get_saved_search(session=session, principal=principal, search_id=search_id)
    return _with_etag(response, row)


@router.patch(
    "/{search_id}",
    response_model=SavedSearchPublic,
    name="update_saved_search",
    summary="Change a saved search",
    description=(
        "Partial update: only the fields sent change, null clears a filter; the kind cannot change. The same "
        "rules as on creation apply to the result (422 naming the field). If-Match is optional (412 when stale). "
        "Listings that already alerted this search do not alert it again."
    ),
    responses=problem_responses(401, 404, 412, 422),
)
async def update_saved_search(
    search_id: SavedSearchId,
    session: SessionDep,
    principal: CurrentPrincipal,
    response: Response,
    payload: Annotated[SavedSearchUpdate, Body()],
    if_match: OptionalIfMatchHeader = None,
) -> SavedSearchPublic:
    row = await service.update_saved_search(
        session=session, principal=principal, search_id=search_id, if_match=if_match, payload=payload
    )
    return _with_etag(response, row)


@router.delete(
    "/{search_id}",
    status_code=204,
    name="delete_saved_search",
    summary="Delete a saved search",
    description="Deletes the search and its recorded matches (If-Match optional: 412 when stale). 404 for a "
    "search of anyone else.",
    responses=problem_responses(401, 404, 412, 422),
)
async def delete_saved_search(
    search_id: SavedSearchId, session: SessionDep, principal: CurrentPrincipal, if_match: OptionalIfMatchHeader = None
) -> Response:
    await service.delete_saved_search(session=session, principal=principal, search_id=search_id, if_match=if_match)
    return Response(status_code=204)
