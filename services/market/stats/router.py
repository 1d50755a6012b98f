"""Endpoints of contract statistics: /market/stats (breakdowns, cumulative, public headline, exports)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from services.market.settings import MarketSettings
from services.market.stats import export, service
from services.market.stats.cube import GROUP_DIMS
from services.market.stats.schemas import (
    Amounts,
    BreakdownPublic,
    CumulativePublic,
    HeadlineStatsPublic,
    MonthPoint,
    Target,
    YearTotal,
    amounts,
)
from services.market.stats.targets import service as targets_service
from shared.clock import IsoDate, today_in_china
from shared.db import ReadSessionDep, SnapshotSessionDep
from shared.errors import ValidationFailed, problem_responses
from shared.money import fen_to_yi_yuan
from shared.security import OptionalPrincipal

__all__ = ["router"]

router = APIRouter(prefix="/stats", tags=["statistics"])

_EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            export.XLSX: {"schema": {"type": "string", "format": "binary"}},
        },
        "description": "JSON, or a CSV / XLSX download (format parameter or Accept header).",
    },
    **problem_responses(401, 403, 406, 422),
}
# The enum documents export.negotiate's check (which keeps its own 422 message).
Format = Annotated[
    Annotated[str, Field(json_schema_extra={"enum": list(export.FORMATS)})] | None,
    Query(alias="format", description="json, csv or xlsx (overrides the Accept header)."),
]


def _settings(request: Request) -> MarketSettings:
    settings: MarketSettings = request.app.state.settings
    return settings


def _amounts(count: int, contract_fen: int, technology_fen: int) -> dict[str, Any]:
    return amounts(count, contract_fen, technology_fen)


def _json(body: BaseModel, *, by_alias: bool = False) -> Response:
    # pydantic's own serializer writes the JSON in one pass (model_dump + json.dumps took a tenth of a request).
    return Response(body.model_dump_json(by_alias=by_alias), media_type="application/json")


def _check_range(date_from: dt.date | None, date_to: dt.date | None, *, to_name: str = "to") -> None:
    if date_from is not None and date_to is not None and date_to < date_from:
        raise ValidationFailed.field(to_name, "must not be before the start", type="date_order")


@router.get(
    "/contracts",
    summary="Breakdown of registered contracts",
    description=(
        "Number of contracts, contract amount and technology amount by registration date (amendments and "
        "revocations by their effective dates), grouped by any combination (up to 4) of: "
        + ", ".join(GROUP_DIMS)
        + ". Filters take the same dimensions. Anonymous callers see every registered contract, aggregated, but may not "
        "group or filter by `office` (403 naming the field) nor download CSV/XLSX (401: sign in to download). "
        "Signed in: statisticians of the center and of government organizations see everything, other "
        "statisticians the contracts brokered in their subtree, registrars their office's, other members 403. "
        "Amounts are integer fen plus exact 万元/亿元 strings. CSV/XLSX: `format=` or the Accept header."
    ),
    response_model=BreakdownPublic,
    responses=_EXPORT_RESPONSES,
)
async def contract_stats(
    request: Request,
    session: ReadSessionDep,
    principal: OptionalPrincipal,
    date_from: Annotated[IsoDate | None, Query(alias="from", description="First day, inclusive.")] = None,
    date_to: Annotated[
        IsoDate | None, Query(alias="to", description="Last day, inclusive; not before `from` (else 422 naming `to`).")
    ] = None,
    group_by: Annotated[str | None, Query(max_length=200, description="Comma-separated dimensions.")] = None,
    seller_region: Annotated[str | None, Query(description="Seller region: province, city or county code.")] = None,
    buyer_region: Annotated[str | None, Query(description="Buyer region code, or a country code.")] = None,
    kind: Annotated[str | None, Query()] = None,
    subkind: Annotated[str | None, Query()] = None,
    technical_field: Annotated[str | None, Query()] = None,
    seller_entity_type: Annotated[str | None, Query()] = None,
    flow: Annotated[str | None, Query(description="local, to_chongqing, to_sichuan, other_province, abroad")] = None,
    office: Annotated[uuid.UUID | None, Query(description="Registration office id.")] = None,
    broker_org: Annotated[uuid.UUID | None, Query(description="A broker organization and its subtree.")] = None,
    fmt: Format = None,
) -> Response:
    chosen = export.negotiate(request, fmt)
    _check_range(date_from, date_to)
    groups = service.parse_group_by(group_by)
    if principal is None:
        service.check_anonymous(group_by=groups, office=office, export_format=chosen)
    filters, echo = service.build_filters(
        {
            "seller_region": seller_region,
            "buyer_region": buyer_region,
            "kind": kind,
            "subkind": subkind,
            "technical_field": technical_field,
            "seller_entity_type": seller_entity_type,
            "flow": flow,
            "office": str(office) if office else None,
            "broker_org": str(broker_org) if broker_org else None,
        }
    )
    scope = service.scope_filters(principal)
    result = await service.breakdown(
        session=session, date_from=date_from, date_to=date_to, group_by=groups, filters=[*filters, *scope]
    )
    if chosen != "json":
        header = [*groups, *[f"{g}_label" for g in groups], *Amounts.model_fields]
        rows = [
            [
                *(r.key.get(g) for g in groups),
                *(r.labels.get(g, "") for g in groups),
                *_amounts(r.count, r.contract_amount_fen, r.technology_amount_fen).values(),
            ]
            for r in result.rows
        ]
        return export.render(chosen, header=header, rows=rows, filename="contract-statistics")
    # The answer as plain JSON: the rows are computed here from integers and codes, so building and validating
    # a model per row (a third of a request with a hundred groups) adds nothing; tests check the body against
    # BreakdownPublic, the documented schema.
    body = {
        "from": None if date_from is None else date_from.isoformat(),
        "to": None if date_to is None else date_to.isoformat(),
        "group_by": groups,
        "filters": {**echo, **service.scope_echo(scope)},
        "source": result.source,
        "rows": [
            {
                **amounts(r.count, r.contract_amount_fen, r.technology_amount_fen),
                "key": r.key,
                "labels": r.labels,
            }
            for r in result.rows
        ],
        "total": amounts(result.total.count, result.total.contract_amount_fen, result.total.technology_amount_fen),
    }
    return Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")), media_type="application/json")


async def _legacy(session: AsyncSession, settings: MarketSettings) -> targets_service.LegacyTarget:
    return await targets_service.legacy_target(
        session=session,
        since=settings.stats_target_since,
        until=settings.stats_target_until,
        value=settings.stats_target_fen,
    )


async def _target(session: AsyncSession, legacy: targets_service.LegacyTarget, filters: list[service.Filter]) -> Target:
    achieved = await targets_service.legacy_achieved(
        session=session, target=legacy, today=today_in_china(), scope=filters
    )
    return Target(
        since=legacy.since,
        until=legacy.until,
        contract_amount_fen=legacy.value,
        contract_amount_yi_yuan=fen_to_yi_yuan(legacy.value),
        achieved_fen=achieved,
        progress=service.ratio(achieved, legacy.value),
    )


@router.get(
    "/cumulative",
    summary="Cumulative contract turnover, progress toward the target, monthly series",
    description=(
        "Totals from `since` (default the headline target's start, 2021-01-01) to `until` (default today, "
        "Beijing), the progress toward the headline target (`target`: the seeded 6000亿元 of contract amount "
        "by sellers in Sichuan from 2021-01-01 to 2025-12-31, as /market/stats/targets holds it), the progress "
        "toward every target within the caller's scope whose period meets the range (`targets`), and every month "
        "with running totals. Scoped like the breakdown: anonymous callers see every registered contract (JSON "
        "only; CSV/XLSX need a token: 401)."
    ),
    response_model=CumulativePublic,
    responses=_EXPORT_RESPONSES,
)
async def cumulative_stats(
    request: Request,
    session: SnapshotSessionDep,
    principal: OptionalPrincipal,
    since: Annotated[
        IsoDate | None, Query(description="First day, inclusive; the period spans at most 100 years.")
    ] = None,
    until: Annotated[
        IsoDate | None,
        Query(description="Last day, inclusive; not before `since` or its default (else 422 naming `until`)."),
    ] = None,
    fmt: Format = None,
) -> Response:
    chosen = export.negotiate(request, fmt)
    settings = _settings(request)
    scope = service.scope_filters(principal)
    legacy = await _legacy(session, settings)
    start = since or legacy.since
    end = until or today_in_china()
    _check_range(start, end, to_name="until")
    if (end.year - start.year) > 100:
        raise ValidationFailed.field("since", "at most 100 years", type="range_too_long")
    if principal is None:
        service.check_anonymous(group_by=[], office=None, export_format=chosen)
    series = await service.breakdown(session=session, date_from=start, date_to=end, group_by=["month"], filters=scope)
    by_month = {r.key["month"]: r for r in series.rows}
    points: list[MonthPoint] = []
    running = [0, 0, 0]
    for month in service.month_series(start, end):
        row = by_month.get(month)
        sums = (row.count, row.contract_amount_fen, row.technology_amount_fen) if row else (0, 0, 0)
        for i in range(3):
            running[i] += sums[i]
        points.append(
            MonthPoint.model_construct(
                month=month,
                **_amounts(*sums),
                cumulative_count=running[0],
                cumulative_contract_amount_fen=running[1],
                cumulative_contract_amount_yi_yuan=fen_to_yi_yuan(running[1]),
                cumulative_technology_amount_fen=running[2],
            )
        )
    if chosen != "json":
        header = list(MonthPoint.model_fields)
        rows = [[getattr(p, h) for h in header] for p in points]
        return export.render(chosen, header=header, rows=rows, filename="contract-cumulative")
    target = await _target(session, legacy, scope)
    known = targets_service.known_headline(legacy, target.achieved_fen, scope)
    targets = await targets_service.cumulative_progress(
        session=session, scope=scope, first=start, last=end, today=today_in_china(), known=known
    )
    body = CumulativePublic(
        since=start,
        until=end,
        scope=service.scope_echo(scope),
        **_amounts(*running),
        target=target,
        targets=targets,
        monthly=points,
    )
    return _json(body)


@router.get(
    "/public",
    summary="The public headline figure",
    description="Unauthenticated: the cumulative contract turnover since the headline target's start, the "
    "progress toward it (`target`, the seeded contract-amount target for Sichuan), the progress toward every target "
    "(`targets`, /market/stats/targets), and the yearly totals of every registered contract.",
    response_model=HeadlineStatsPublic,
    responses=problem_responses(422),
)
async def public_stats(request: Request, session: SnapshotSessionDep) -> HeadlineStatsPublic:
    settings = _settings(request)
    today = today_in_china()
    legacy = await _legacy(session, settings)
    target = await _target(session, legacy, [])
    headline = await service.breakdown(session=session, date_from=legacy.since, date_to=today, group_by=[], filters=[])
    yearly = await service.breakdown(session=session, date_from=None, date_to=today, group_by=["year"], filters=[])
    total = headline.total
    return HeadlineStatsPublic(
        since=legacy.since,
        until=today,
        cumulative=Amounts.of(total.count, total.contract_amount_fen, total.technology_amount_fen),
        target=target,
        targets=await targets_service.public_progress(
            session=session, today=today, known=targets_service.known_headline(legacy, target.achieved_fen, [])
        ),
        yearly=[
            YearTotal(year=int(r.key["year"] or 0), **_amounts(r.count, r.contract_amount_fen, r.technology_amount_fen))
            for r in yearly.rows
        ],
    )
