"""Contract statistics: planning and answering breakdowns, scopes, cumulative (the fold: services.market.stats.fold)."""

from __future__ import annotations

import calendar
import contextlib
import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from functools import cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.market.directory import service as directory_service
from services.market.reference import contract_rules as contract_reference
from services.market.stats.cube import GROUP_DIMS, TIME_DIMS, level_for
from services.market.stats.repository import Filter, StatsRepository
from shared.errors import Forbidden, Unauthorized, ValidationFailed
from shared.reference.regions import is_valid_region, region, region_prefix
from shared.reference.technical_fields import technical_fields
from shared.security import Principal

__all__ = [
    "Breakdown",
    "BreakdownRow",
    "Filter",
    "breakdown",
    "check_anonymous",
    "scope_filters",
]

_MIN_DAY = dt.date(1900, 1, 1)
_MAX_DAY = dt.date(9999, 12, 31)


def scope_filters(principal: Principal | None) -> list[Filter]:
    """The filters that limit statistics to what ``principal`` may see; 403 for callers without a stats role.

    Anonymous callers (``None``) get the public scope: every registered contract, aggregated (what
    /market/stats/public shows); ``check_anonymous`` keeps them from the office dimension and the exports.
    """
    if principal is None:
        return []
    if principal.has_role("platform_admin"):
        return []
    if principal.has_role("statistician"):
        if principal.org_kind in ("center", "government"):
            return []
        if principal.org_path:
            return [Filter("broker_path", "prefix", principal.org_path)]
    if principal.has_role("registrar") and principal.org_kind == "registration_office" and principal.org_id:
        return [Filter("office_id", "eq", principal.org_id.hex)]
    raise Forbidden("Contract statistics need the statistician or registrar role.")


@dataclass
class BreakdownRow:
    """One group: its dimension values, labels and sums."""

    key: dict[str, Any]
    labels: dict[str, str]
    count: int
    contract_amount_fen: int
    technology_amount_fen: int


@dataclass
class Breakdown:
    """The answer to a breakdown query, with the path used (rollup cells, ledger, or both)."""

    rows: list[BreakdownRow]
    source: str
    total: BreakdownRow = field(default_factory=lambda: BreakdownRow({}, {}, 0, 0, 0))


def month_end(day: dt.date) -> dt.date:
    """The last day of the month of ``day``."""
    return _month_end(day)


def _month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


@dataclass(frozen=True, slots=True)
class _Plan:
    """How a date range is answered: cell period ranges, their whole-month span, edge day ranges from the ledger."""

    periods: list[tuple[int, int]]
    months: tuple[int, int] | None
    edges: list[tuple[dt.date, dt.date]]


def _plan(date_from: dt.date, date_to: dt.date, *, need_months: bool) -> _Plan:
    """Split [from, to] into cell period ranges (years and whole months) and edge day ranges for the ledger."""
    if date_from.year == date_to.year and date_from.month == date_to.month:
        whole = date_from.day == 1 and date_to == _month_end(date_to)
        if not whole:
            return _Plan([], None, [(date_from, date_to)])
    edges: list[tuple[dt.date, dt.date]] = []
    first_full = date_from
    if date_from.day != 1:
        edges.append((date_from, _month_end(date_from)))
        first_full = _next_month(date_from)
    last_full = date_to
    if date_to != _month_end(date_to):
        start = date_to.replace(day=1)
        edges.append((start, date_to))
        last_full = start - dt.timedelta(days=1)
    if first_full > last_full:
        return _Plan([], None, edges)
    lo = first_full.year * 100 + first_full.month
    hi = last_full.year * 100 + last_full.month
    if need_months:
        return _Plan([(lo, hi)], (lo, hi), edges)
    y1 = first_full.year if first_full.month == 1 else first_full.year + 1
    y2 = last_full.year if last_full.month == 12 else last_full.year - 1
    if y1 > y2:
        return _Plan([(lo, hi)], (lo, hi), edges)
    ranges = [(y1, y2)]
    if lo < y1 * 100 + 1:
        ranges.append((lo, (y1 - 1) * 100 + 12))
    if hi > y2 * 100 + 12:
        ranges.append(((y2 + 1) * 100 + 1, hi))
    return _Plan(ranges, (lo, hi), edges)


def _format_key(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name == "year":
        return int(value)
    if name == "quarter":
        v = int(value)
        return f"{v // 10}-Q{v % 10}"
    if name == "month":
        v = int(value)
        return f"{v // 100}-{v % 100:02d}"
    if name == "office":
        return str(uuid.UUID(str(value)))
    if name.startswith("broker_"):
        return str(value) or None
    return str(value)


@cache
def _labels() -> dict[str, dict[str, str]]:
    latest = contract_reference.rules_versions()[-1].code
    return {
        "kind": contract_reference.all_kind_labels(),
        "technical_field": {f.code: f.label_zh for f in technical_fields()},
        "seller_entity_type": {code: t.label_zh for code, t in contract_reference.entity_types(latest).items()},
        "flow": contract_reference.flows(),
    }


_REGION_DIMS = frozenset(
    {"seller_province", "seller_city", "seller_county", "buyer_province", "buyer_city", "buyer_county"}
)


def _label(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if name in _REGION_DIMS:
        known = region(str(value))
        return known.name if known else None
    table = _labels().get("kind" if name == "subkind" else name)
    return table.get(str(value)) if table is not None else None


def _merge(into: dict[tuple[Any, ...], list[int]], rows: Iterable[tuple[Any, ...]], group_by: Sequence[str]) -> None:
    width = len(group_by)
    for row in rows:
        key = tuple(_format_key(name, value) for name, value in zip(group_by, row[:width], strict=True))
        sums = into.setdefault(key, [0, 0, 0])
        for i in range(3):
            sums[i] += int(row[width + i] or 0)


async def breakdown(
    *,
    session: AsyncSession,
    date_from: dt.date | None,
    date_to: dt.date | None,
    group_by: Sequence[str],
    filters: Sequence[Filter],
) -> Breakdown:
    """Sums of contract deltas in [from, to] grouped by ``group_by`` and limited by ``filters`` (scope included)."""
    repo = StatsRepository.from_session(session)
    bases = {GROUP_DIMS[g].base for g in group_by if GROUP_DIMS[g].base} | {f.base for f in filters}
    level = level_for(b for b in bases if b is not None)
    start, end = date_from or _MIN_DAY, date_to or _MAX_DAY
    merged: dict[tuple[Any, ...], list[int]] = {}
    if level is None:
        days = None if date_from is None and date_to is None else (start, end)
        _merge(merged, await repo.sum_ledger(days=days, group_by=group_by, filters=filters), group_by)
        source = "ledger"
    else:
        plan = _plan(start, end, need_months=bool(TIME_DIMS.intersection(group_by) - {"year"}))
        rows = await repo.sum_rollup(
            level=level,
            periods=plan.periods,
            months=plan.months,
            edges=plan.edges,
            group_by=group_by,
            filters=filters,
        )
        _merge(merged, rows, group_by)
        source = "rollup+ledger" if plan.edges else "rollup"
    out: list[BreakdownRow] = []
    total = BreakdownRow({}, {}, 0, 0, 0)
    for key, sums in sorted(merged.items(), key=lambda item: tuple("" if v is None else str(v) for v in item[0])):
        if not any(sums):
            continue  # revoked and registered in the same group: nothing left to report
        keys = dict(zip(group_by, key, strict=True))
        labels = {name: label for name, value in keys.items() if (label := _label(name, value)) is not None}
        out.append(BreakdownRow(keys, labels, sums[0], sums[1], sums[2]))
        total.count += sums[0]
        total.contract_amount_fen += sums[1]
        total.technology_amount_fen += sums[2]
    await _label_organizations(session, out, [g for g in group_by if g in _ORG_DIMS])
    return Breakdown(rows=out, source=source, total=total)


# Dimensions whose values are organization ids: labelled with the verified organization's name from the directory.
_ORG_DIMS = frozenset({"broker_org", "broker_level1", "broker_level2", "broker_level3"})


async def _label_organizations(session: AsyncSession, rows: Sequence[BreakdownRow], dims: Sequence[str]) -> None:
    if not dims:
        return
    ids: dict[str, uuid.UUID] = {}
    for row in rows:
        for dim in dims:
            value = row.key.get(dim)
            if value and value not in ids:
                with contextlib.suppress(ValueError):
                    ids[str(value)] = uuid.UUID(str(value))
    if not ids:
        return
    cards = await directory_service.get_many(session=session, ids=ids.values())
    for row in rows:
        for dim in dims:
            card = cards.get(ids.get(str(row.key.get(dim)), uuid.UUID(int=0)))
            if card is not None and card.verified:
                row.labels[dim] = card.name


def ratio(numerator: int, denominator: int) -> str:
    """numerator / denominator as a decimal string with 6 places, truncated (never rounded up to a target)."""
    if denominator <= 0:
        return "0"
    value = (Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.000001"), rounding=ROUND_DOWN)
    return format(value, "f")


def month_series(date_from: dt.date, date_to: dt.date) -> list[str]:
    """Every month between two days as 2024-03 strings."""
    months = []
    day = date_from.replace(day=1)
    while day <= date_to:
        months.append(f"{day.year}-{day.month:02d}")
        day = _next_month(day)
    return months


def build_filters(params: dict[str, str | None]) -> tuple[list[Filter], dict[str, str]]:
    """Validate the filter parameters of a breakdown; returns the filters and their echo."""
    filters: list[Filter] = []
    echo: dict[str, str] = {}
    versions = [v.code for v in contract_reference.rules_versions()]
    known = {
        "kind": {k for v in versions for k in contract_reference.kinds(v)},
        "subkind": {k for v in versions for k in contract_reference.subkinds(v)},
        "technical_field": {f.code for f in technical_fields()},
        "seller_entity_type": {k for v in versions for k in contract_reference.entity_types(v)},
        "flow": set(contract_reference.flows()),
    }
    for name, raw in params.items():
        if raw is None:
            continue
        value = raw.strip()
        echo[name] = value
        if name == "seller_region":
            if not is_valid_region(value):
                raise ValidationFailed.field(name, "not a GB/T 2260 region code", type="region_invalid")
            if value.endswith("00"):
                # Province or prefecture: the cells keep the seller's prefecture.
                filters.append(Filter("seller_region", "prefix", region_prefix(value)))
            else:
                filters.append(Filter("seller_county", "eq", value))
        elif name == "buyer_region":
            if len(value) == 2 and value.isalpha() and value.isupper() and value != "CN":
                filters.append(Filter("buyer_region", "eq", value))
            elif not is_valid_region(value):
                raise ValidationFailed.field(
                    name, "not a GB/T 2260 region code or a country code", type="region_invalid"
                )
            elif value.endswith("0000"):
                filters.append(Filter("buyer_region", "eq", value))
            else:
                filters.append(Filter("buyer_county", "prefix", region_prefix(value)))
        elif name in known:
            if value not in known[name]:
                raise ValidationFailed.field(
                    name, f"unknown code (known: {', '.join(sorted(known[name]))})", type="unknown_code"
                )
            filters.append(Filter(name, "eq", value))
        elif name == "office":
            filters.append(Filter("office_id", "eq", uuid.UUID(value).hex))
        elif name == "broker_org":
            filters.append(Filter("broker_path", "contains", f"/{uuid.UUID(value)}/"))
    return filters, echo


def parse_group_by(raw: str | None) -> list[str]:
    """The group_by list: comma-separated API dimensions, at most 4, no repeats."""
    if raw is None or not raw.strip():
        return []
    names = [n.strip() for n in raw.split(",") if n.strip()]
    for name in names:
        if name not in GROUP_DIMS:
            raise ValidationFailed.field(
                "group_by", f"unknown dimension {name!r} (known: {', '.join(GROUP_DIMS)})", type="unknown_dimension"
            )
    if len(set(names)) != len(names):
        raise ValidationFailed.field("group_by", "a dimension is repeated", type="repeated_dimension")
    if len(names) > 4:
        raise ValidationFailed.field("group_by", "at most 4 dimensions", type="too_many_dimensions")
    return names


def check_anonymous(*, group_by: Sequence[str], office: object | None, export_format: str) -> None:
    """Refuse what anonymous callers may not do: downloads (401) and the office dimension (403 naming the field).

    The registration office is an operational detail of the offices, not a public figure.
    """
    if export_format != "json":
        raise Unauthorized(
            "Sign in to download: CSV and XLSX exports need a bearer access token.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    for name, value in (("group_by", "office" if "office" in group_by else None), ("office", office)):
        if value is not None:
            message = "anonymous callers may not group or filter by registration office; sign in"
            raise Forbidden(
                f"{name}: {message}.", errors=[{"field": name, "message": message, "type": "sign_in_required"}]
            )


def scope_echo(filters: Sequence[Filter]) -> dict[str, str]:
    """The scope filters as shown to the caller."""
    out = {}
    for f in filters:
        if f.base == "office_id":
            out["scope.office"] = str(uuid.UUID(f.value))
        elif f.base == "broker_path":
            out["scope.broker_subtree"] = f.value
    return out
