"""Endpoints of /market/stats/targets: statistics targets as data (thin: parse, call, shape)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status

from services.market.concurrency import IfMatchHeader, etag_for
from services.market.stats.targets import service
from services.market.stats.targets.schemas import Metric, TargetCreate, TargetPublic, TargetUpdate
from shared.clock import IsoDate
from shared.db import ReadSessionDep, SessionDep
from shared.errors import Forbidden, problem_responses
from shared.pagination import DEFAULT_LIMIT, Cursor, Limit, Page
from shared.security import CurrentPrincipal, Principal

__all__ = ["router"]

router = APIRouter(prefix="/stats/targets", tags=["statistics"])

TargetId = Annotated[uuid.UUID, Path(description="The target id.")]
WRITERS = "Platform admins and statisticians of the center write (403 otherwise); anyone reads."


async def _writer(principal: CurrentPrincipal) -> Principal:
    """Platform admins and the center's statisticians (the ones whose statistics are not limited to a subtree)."""
    if principal.has_role("platform_admin"):
        return principal
    if principal.has_role("statistician") and principal.org_kind == "center":
        return principal
    raise Forbidden("Statistics targets are set by platform admins and statisticians of the center.")


Writer = Annotated[Principal, Depends(_writer)]


def _with_etag(response: Response, target: TargetPublic) -> TargetPublic:
    response.headers["ETag"] = etag_for(target.version)
    return target


@router.get(
    "",
    response_model=Page[TargetPublic],
    name="list_stats_targets",
    summary="Statistics targets",
    description=(
        "Every target (the seed's first, then in creation order), cursor-paginated; `metric` keeps one metric, "
        "`active_on` the targets whose period holds that day. Anyone, without a token."
    ),
    responses=problem_responses(422),
)
async def list_stats_targets(
    session: ReadSessionDep,
    metric: Annotated[Metric | None, Query(description="Only targets of this metric.")] = None,
    active_on: Annotated[
        IsoDate | None, Query(description="Only targets whose period holds this day (Beijing date).")
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[TargetPublic]:
    return await service.list_targets(session=session, metric=metric, active_on=active_on, limit=limit, cursor=cursor)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TargetPublic,
    name="create_stats_target",
    summary="Add a statistics target",
    description=(
        "A metric to reach in a period (Beijing dates, inclusive) within a scope: `region` (a GB/T 2260 province, "
        "city or county code, or 川渝 for 510000 and 500000; null = everywhere) and `organization_id` (a 1+4+N "
        "subtree of market's directory; null = all). `value` is fen for contract_amount and technology_amount, a "
        "count otherwise. 422 naming the field: an unknown region or organization, period_to before period_from, "
        f"a value not positive. Audited. {WRITERS}"
    ),
    responses=problem_responses(401, 403, 422),
)
async def create_stats_target(
    session: SessionDep, principal: Writer, data: TargetCreate, response: Response
) -> TargetPublic:
    created = await service.create_target(session=session, principal=principal, data=data)
    response.headers["Location"] = f"/market/stats/targets/{created.id}"
    return _with_etag(response, created)


@router.get(
    "/{target_id}",
    response_model=TargetPublic,
    name="get_stats_target",
    summary="One statistics target",
    description="Anyone, without a token. The ETag is what PATCH needs in If-Match.",
    responses=problem_responses(404, 422),
)
async def get_stats_target(session: ReadSessionDep, target_id: TargetId, response: Response) -> TargetPublic:
    return _with_etag(response, await service.get_target(session=session, target_id=target_id))


@router.patch(
    "/{target_id}",
    response_model=TargetPublic,
    name="update_stats_target",
    summary="Change a statistics target",
    description=(
        "Only the fields sent change (`region` and `organization_id` may be set to null); the same rules as on "
        f"creation. Needs If-Match (428 without, 412 when stale). Audited with the values before and after. {WRITERS}"
    ),
    responses=problem_responses(401, 403, 404, 412, 422, 428),
)
async def update_stats_target(
    session: SessionDep,
    principal: Writer,
    target_id: TargetId,
    data: TargetUpdate,
    response: Response,
    if_match: IfMatchHeader = None,
) -> TargetPublic:
    updated = await service.update_target(
        session=session, principal=principal, target_id=target_id, data=data, if_match=if_match
    )
    return _with_etag(response, updated)
