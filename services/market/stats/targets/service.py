"""Statistics targets: create, change, read, and the progress toward each (exact: the statistics' breakdown)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.market.audit import service as audit_service
from services.market.concurrency import require_if_match
from services.market.directory import service as directory_service
from services.market.stats import service as stats_service
from services.market.stats.repository import Filter
from services.market.stats.targets.models import StatsTarget
from services.market.stats.targets.repository import TargetRepository
from services.market.stats.targets.schemas import (
    AMOUNT_METRICS,
    SICHUAN_CHONGQING,
    TargetCreate,
    TargetProgress,
    TargetPublic,
    TargetUpdate,
)
from shared.clock import utcnow
from shared.errors import NotFound, ValidationFailed
from shared.money import FEN_PER_YI_YUAN, fen_to_wan_yuan, fen_to_yi_yuan
from shared.pagination import Page, cursor_after, cursor_id
from shared.reference.regions import CHONGQING, SICHUAN, is_valid_region, region_prefix
from shared.security import Principal
from shared.text import normalize_code

__all__ = [
    "SEED_CONTRACT_AMOUNT_ID",
    "SEED_DEMONSTRATION_ID",
    "LegacyTarget",
    "achieved_for_org_metric",
    "create_target",
    "cumulative_progress",
    "get_target",
    "known_headline",
    "legacy_achieved",
    "legacy_target",
    "list_targets",
    "progress_of",
    "public_progress",
    "update_target",
    "value_display",
]


# The seed of migration market_0012 (the action plan's targets for Sichuan, 2021–2025).
SEED_CONTRACT_AMOUNT_ID = uuid.UUID("0176bb3e-7000-7000-8000-000000000001")
SEED_DEMONSTRATION_ID = uuid.UUID("0176bb3e-7000-7000-8000-000000000002")
AUDIT_KIND = "stats_target"
_PROVINCES_OF_SICHUAN_CHONGQING = (SICHUAN, CHONGQING)


def value_display(metric: str, value: int) -> str:
    """The value for people: amounts in 亿元 from 1亿元 up (6000亿元), in 万元 below (50万元); counts as is."""
    if metric in AMOUNT_METRICS:
        if abs(value) >= FEN_PER_YI_YUAN:
            return f"{fen_to_yi_yuan(value)}亿元"
        return f"{fen_to_wan_yuan(value)}万元"
    return str(value)


def _public(row: StatsTarget) -> TargetPublic:
    return TargetPublic(
        id=row.id,
        name=row.name,
        metric=row.metric,
        period_from=row.period_from,
        period_to=row.period_to,
        region=row.region,
        organization_id=row.organization_id,
        value=row.value,
        value_display=value_display(row.metric, row.value),
        source=row.source,
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
        version=row.version,
    )


def _region(value: str | None) -> str | None:
    """The canonical region of a target (a known GB/T 2260 code or 川渝); 422 naming ``region`` otherwise."""
    if value is None:
        return None
    if value == SICHUAN_CHONGQING:
        return value
    code = normalize_code(value)
    if not is_valid_region(code):
        raise ValidationFailed.field(
            "region", "not a GB/T 2260 province, city or county code, nor 川渝", type="region_invalid"
        )
    return code


async def _organization(session: AsyncSession, org_id: uuid.UUID | None) -> uuid.UUID | None:
    if org_id is not None and await directory_service.get(session=session, org_id=org_id) is None:
        raise ValidationFailed.field(
            "organization_id", "no such organization in the directory", type="organization_unknown"
        )
    return org_id


def _check_period(period_from: dt.date, period_to: dt.date) -> None:
    if period_to < period_from:
        raise ValidationFailed.field("period_to", "must not be before period_from", type="date_order")


async def create_target(*, session: AsyncSession, principal: Principal, data: TargetCreate) -> TargetPublic:
    """A new target (audited)."""
    _check_period(data.period_from, data.period_to)
    region = _region(data.region)
    organization_id = await _organization(session, data.organization_id)
    now = utcnow()
    row = StatsTarget(
        name=data.name,
        metric=data.metric,
        period_from=data.period_from,
        period_to=data.period_to,
        region=region,
        organization_id=organization_id,
        value=data.value,
        source=data.source,
        created_at=now,
        created_by=principal.subject,
        updated_at=now,
        updated_by=principal.subject,
    )
    await TargetRepository.from_session(session).add(row)
    await audit_service.record(
        session=session,
        entity_kind=AUDIT_KIND,
        entity_id=row.id,
        action="create",
        from_status=None,
        to_status=None,
        actor=principal,
        details=_details(row),
    )
    return _public(row)


def _details(row: StatsTarget) -> dict[str, Any]:
    return {
        "name": row.name,
        "metric": row.metric,
        "period_from": row.period_from.isoformat(),
        "period_to": row.period_to.isoformat(),
        "region": row.region,
        "organization_id": None if row.organization_id is None else str(row.organization_id),
        "value": row.value,
        "source": row.source,
    }


_NOT_NULL = ("name", "metric", "period_from", "period_to", "value", "source")


async def update_target(
    *, session: AsyncSession, principal: Principal, target_id: uuid.UUID, data: TargetUpdate, if_match: str | None
) -> TargetPublic:
    """Change the fields sent (If-Match required; audited with the values before and after)."""
    row = await TargetRepository.from_session(session).get(target_id, for_update=True)
    if row is None:
        raise NotFound(f"No target {target_id}.")
    require_if_match(if_match, version=row.version)
    values = data.model_dump(exclude_unset=True)
    for name in _NOT_NULL:
        if name in values and values[name] is None:
            raise ValidationFailed.field(name, "may not be null")
    _check_period(values.get("period_from", row.period_from), values.get("period_to", row.period_to))
    if "region" in values:
        values["region"] = _region(values["region"])
    if "organization_id" in values:
        values["organization_id"] = await _organization(session, values["organization_id"])
    before = _details(row)
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    row.updated_by = principal.subject
    row.version += 1
    await session.flush()
    after = _details(row)
    changed = {k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]}
    await audit_service.record(
        session=session,
        entity_kind=AUDIT_KIND,
        entity_id=row.id,
        action="update",
        from_status=None,
        to_status=None,
        actor=principal,
        details=changed,
    )
    return _public(row)


async def get_target(*, session: AsyncSession, target_id: uuid.UUID) -> TargetPublic:
    """One target (404 when there is none)."""
    row = await TargetRepository.from_session(session).get(target_id)
    if row is None:
        raise NotFound(f"No target {target_id}.")
    return _public(row)


async def list_targets(
    *, session: AsyncSession, metric: str | None, active_on: dt.date | None, limit: int, cursor: str | None
) -> Page[TargetPublic]:
    """Targets in creation order (the seed first), filtered by metric and by a day their period holds."""
    rows = await TargetRepository.from_session(session).page(
        metric=metric, active_on=active_on, after=cursor_id(cursor), limit=limit + 1
    )
    next_cursor = cursor_after(rows, limit, id_of=lambda row: row.id)
    return Page[TargetPublic](items=[_public(r) for r in rows[:limit]], next_cursor=next_cursor)


# -- progress ----------------------------------------------------------------------------------------------------


def _region_prefixes(region: str | None) -> list[str] | None:
    if region is None:
        return None
    if region == SICHUAN_CHONGQING:
        return [region_prefix(p) for p in _PROVINCES_OF_SICHUAN_CHONGQING]
    return [region_prefix(region)]


async def achieved_for_org_metric(
    *, session: AsyncSession, metric: str, on: dt.date, region: str | None, org_path: str | None
) -> int:
    """The count of an organization metric on ``on``: demonstration institutions or certified brokers (the
    directory counts them, from auth's designations and broker certificates)."""
    prefixes = _region_prefixes(region)
    count = (
        directory_service.count_demonstration_institutions
        if metric == "demonstration_institutions"
        else directory_service.count_certified_brokers
    )
    result: int = await count(session=session, on=on, region_prefixes=prefixes, org_path=org_path)
    return result


async def _achieved_for_contracts(
    session: AsyncSession, row: StatsTarget, *, last: dt.date, extra: Sequence[Filter]
) -> int:
    """The contract metric of ``row`` from its start to ``last``, exact to the fen (the statistics' breakdown)."""
    params: dict[str, str | None] = {"broker_org": None if row.organization_id is None else str(row.organization_id)}
    both = row.region == SICHUAN_CHONGQING
    if row.region is not None and not both:
        params["seller_region"] = row.region
    filters, _ = stats_service.build_filters(params)
    result = await stats_service.breakdown(
        session=session,
        date_from=row.period_from,
        date_to=last,
        group_by=["seller_province"] if both else [],
        filters=[*filters, *extra],
    )
    rows = [r for r in result.rows if r.key.get("seller_province") in _PROVINCES_OF_SICHUAN_CHONGQING] if both else []
    totals = rows if both else [result.total]
    if row.metric == "contract_amount":
        return sum(r.contract_amount_fen for r in totals)
    if row.metric == "technology_amount":
        return sum(r.technology_amount_fen for r in totals)
    return sum(r.count for r in totals)


def _status(row: StatsTarget, today: dt.date) -> tuple[str, int]:
    if today < row.period_from:
        return "not_started", (row.period_to - row.period_from).days + 1
    if today > row.period_to:
        return "ended", 0
    return "running", (row.period_to - today).days + 1


async def progress_of(
    *,
    session: AsyncSession,
    rows: Sequence[StatsTarget],
    today: dt.date,
    extra: Sequence[Filter] = (),
    known: Mapping[uuid.UUID, int] | None = None,
) -> list[TargetProgress]:
    """The progress of each target on ``today`` (contract metrics further limited by ``extra`` filters).

    ``known`` gives achieved values the caller already summed the same way (the headline target's), by target id.
    """
    paths: dict[uuid.UUID, str] = {}
    org_ids = {r.organization_id for r in rows if r.organization_id is not None}
    if org_ids:
        cards = await directory_service.get_many(session=session, ids=org_ids)
        paths = {org_id: card.path for org_id, card in cards.items()}
    out: list[TargetProgress] = []
    for row in rows:
        status, days_left = _status(row, today)
        achieved = 0
        if known and row.id in known:
            achieved = known[row.id]
        elif status != "not_started":
            last = min(today, row.period_to)
            if row.metric in AMOUNT_METRICS or row.metric == "contract_count":
                achieved = await _achieved_for_contracts(session, row, last=last, extra=extra)
            elif row.organization_id is None or row.organization_id in paths:
                org_path = None if row.organization_id is None else paths[row.organization_id]
                achieved = await achieved_for_org_metric(
                    session=session, metric=row.metric, on=last, region=row.region, org_path=org_path
                )
        out.append(
            TargetProgress(
                id=row.id,
                name=row.name,
                metric=row.metric,
                region=row.region,
                organization_id=row.organization_id,
                period_from=row.period_from,
                period_to=row.period_to,
                value=row.value,
                value_display=value_display(row.metric, row.value),
                achieved=achieved,
                share=stats_service.ratio(achieved, row.value),
                days_left=days_left,
                status=status,
                source=row.source,
            )
        )
    return out


async def public_progress(
    *, session: AsyncSession, today: dt.date, known: Mapping[uuid.UUID, int] | None = None
) -> list[TargetProgress]:
    """Every target with its progress (the public headline)."""
    rows = await TargetRepository.from_session(session).overlapping(first=None, last=None)
    return await progress_of(session=session, rows=rows, today=today, known=known)


async def cumulative_progress(
    *,
    session: AsyncSession,
    scope: Sequence[Filter],
    first: dt.date,
    last: dt.date,
    today: dt.date,
    known: Mapping[uuid.UUID, int] | None = None,
) -> list[TargetProgress]:
    """The targets within the caller's scope whose period meets [first, last], with their progress.

    Unrestricted callers (platform admins, statisticians of the center and of governments) see every target; a
    statistician limited to a 1+4+N subtree sees the targets of organizations inside it; a registration office's
    scope holds no target.
    """
    rows = list(await TargetRepository.from_session(session).overlapping(first=first, last=last))
    if not scope:
        return await progress_of(session=session, rows=rows, today=today, known=known)
    if any(f.base != "broker_path" or f.op != "prefix" for f in scope):
        return []
    subtree = scope[0].value
    org_ids = {r.organization_id for r in rows if r.organization_id is not None}
    cards = await directory_service.get_many(session=session, ids=org_ids) if org_ids else {}
    inside = [
        r
        for r in rows
        if r.organization_id is not None
        and r.organization_id in cards
        and cards[r.organization_id].path.startswith(subtree)
    ]
    return await progress_of(session=session, rows=inside, today=today)


@dataclass(frozen=True, slots=True)
class LegacyTarget:
    """The target behind the ``target`` field of /market/stats/cumulative and /public: the seeded contract-amount
    target (``row``), or the settings' MARKET_STATS_TARGET_* when that row is gone or no longer a contract amount."""

    since: dt.date
    until: dt.date
    value: int
    row: StatsTarget | None


async def legacy_target(*, session: AsyncSession, since: dt.date, until: dt.date, value: int) -> LegacyTarget:
    """The legacy target; ``since``, ``until`` and ``value`` are the settings' fallback."""
    row = await TargetRepository.from_session(session).get(SEED_CONTRACT_AMOUNT_ID)
    if row is None or row.metric != "contract_amount":
        return LegacyTarget(since, until, value, None)
    return LegacyTarget(row.period_from, row.period_to, row.value, row)


def known_headline(target: LegacyTarget, achieved: int, scope: Sequence[Filter]) -> dict[uuid.UUID, int]:
    """The headline's achieved value by its row id, when it was summed exactly as its progress is (no scope)."""
    return {target.row.id: achieved} if target.row is not None and not scope else {}


async def legacy_achieved(
    *, session: AsyncSession, target: LegacyTarget, today: dt.date, scope: Sequence[Filter]
) -> int:
    """Contract amount toward the legacy target from its start to min(today, its end), in the caller's scope and
    (for the seeded row) the row's own region and organization."""
    last = min(target.until, today)
    if last < target.since:
        return 0
    if target.row is not None:
        return await _achieved_for_contracts(session, target.row, last=last, extra=scope)
    result = await stats_service.breakdown(
        session=session, date_from=target.since, date_to=last, group_by=[], filters=list(scope)
    )
    return result.total.contract_amount_fen
