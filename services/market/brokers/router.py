"""Endpoints of broker performance: /market/brokers/{org_id}/performance and /institutions."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from services.market.brokers import service
from services.market.brokers.schemas import SORT_KEYS, InstitutionTable, Performance
from shared.clock import IsoDate
from shared.db import ReadSessionDep
from shared.errors import problem_responses
from shared.pagination import Cursor, Limit, decode_cursor, encode_cursor, invalid_cursor
from shared.security import CurrentPrincipal

__all__ = ["router"]

router = APIRouter(prefix="/brokers", tags=["brokerage"])

DateFrom = Annotated[
    IsoDate | None,
    Query(
        alias="from",
        description="First day, inclusive (Beijing); default 1 January this year. Not after `to`; the period spans at "
        "most ten years (else 422 naming `from`).",
    ),
]
DateTo = Annotated[IsoDate | None, Query(alias="to", description="Last day, inclusive (Beijing); default today.")]
Sort = Annotated[
    str,
    Query(description=f"A metric to sort by, `-` for descending: {', '.join(SORT_KEYS)}.", max_length=40),
]

_WHO = (
    "For the broker organization's own members, the organizations above it in the 1+4+N tree (a sub-center, the "
    "center), statisticians in scope and platform admins (403 for others; 404 when the id is not a transfer "
    "institution, sub-center or the center)."
)


@router.get(
    "/{org_id}/performance",
    summary="A broker's performance",
    description="What a transfer institution, sub-center or the center achieved by brokering (经纪业绩), itself and "
    "everything below it: proposals made, agreed by both sides, declined, withdrawn and expired (each counted in "
    "the month it happened), the median days from proposal to agreement, contracts submitted from its deals, and "
    "the registrations credited to it with their contract and technology amounts — the statistics' own sums for "
    "`broker_org`, equal to the fen. Totals and every month of the period. " + _WHO,
    response_model_by_alias=True,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_broker_performance(
    session: ReadSessionDep,
    principal: CurrentPrincipal,
    org_id: uuid.UUID,
    date_from: DateFrom = None,
    date_to: DateTo = None,
) -> Performance:
    span = service.period(date_from, date_to)
    broker = await service.broker_of(session=session, principal=principal, org_id=org_id)
    totals, monthly = await service.performance(session=session, broker=broker, span=span)
    return Performance(
        organization=service.card(broker), date_from=span.first, date_to=span.last, totals=totals, monthly=monthly
    )


@router.get(
    "/{org_id}/institutions",
    summary="The performance of every institution below a sub-center or the center",
    description="One row per transfer institution below the organization (the table a sub-center uses to evaluate "
    "its demonstration institutions, 示范机构), with the totals of its performance in the period, sorted by any "
    "metric (default: contract amount, highest first; ties by name). " + _WHO,
    response_model_by_alias=True,
    responses=problem_responses(401, 403, 404, 422),
)
async def list_broker_institutions(
    session: ReadSessionDep,
    principal: CurrentPrincipal,
    org_id: uuid.UUID,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    sort: Sort = "-contract_amount_fen",
    limit: Limit = 50,
    cursor: Cursor = None,
) -> InstitutionTable:
    span = service.period(date_from, date_to)
    offset = 0
    if cursor is not None:
        offset, cursor_sort = decode_cursor(cursor, types=(int, str))
        if offset < 0 or cursor_sort != sort:
            raise invalid_cursor()
    broker = await service.broker_of(session=session, principal=principal, org_id=org_id)
    rows = await service.institutions(session=session, broker=broker, span=span, sort=sort)
    page = rows[offset : offset + limit]
    more = offset + limit < len(rows)
    return InstitutionTable(
        organization=service.card(broker),
        date_from=span.first,
        date_to=span.last,
        sort=sort,
        items=page,
        next_cursor=encode_cursor(offset + limit, sort) if more else None,
    )
