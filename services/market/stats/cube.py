"""The shape of the statistics rollup: base dimensions, levels, periods, and the dimensions the API groups by.

Design (see docs/contracts.md, "Statistics"):

* Every statistical fact is a signed delta of one contract (registration +1, amendment 0, revocation −1; amounts
  signed), dated by the day it takes effect. The deltas table is the ledger; the rollup cells are sums of it.
* Cells keep the seller's region at prefecture (city) level and the buyer's at province level (or its country);
  county-level questions are answered from the ledger.
* A *level* keeps a subset of the nine base dimensions (a bitmask). Levels with at most two base dimensions are
  materialized (45 of them: the total, 9 singles, 35 pairs — a subkind implies its kind), each at two grains: the
  calendar year (``period`` = yyyy) and the month (``period`` = yyyymm).
* A request appends its delta *unfolded*; the fold adds a batch of unfolded deltas to every level and grain and
  flags them folded, in one transaction (see services.market.stats.fold.fold_pending). Every query sums the
  cells plus the unfolded deltas in one SQL statement, so at any snapshot each delta is counted exactly once —
  the statistics are exact whether or not the fold has run, and no request waits on a hot cell's row lock.
* A query needing at most two base dimensions (group-by ∪ filters ∪ the caller's scope) over whole months reads
  the matching level: whole years at year grain, the remaining months at month grain. Days at the edges of a
  range that does not start or end on a month boundary, and queries needing three or more base dimensions, are
  summed from the ledger directly ("fine path"). Both are exact; only speed differs.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from services.market.contracts.models import effective_period
from shared.reference.regions import CITY_DIGITS, CODE_DIGITS, PROVINCE_DIGITS, city_code, province_code
from shared.security import ORG_PATH_SEGMENT

__all__ = [
    "BASE_DIMS",
    "GROUP_DIMS",
    "LEDGER_ONLY_DIMS",
    "LEVELS",
    "DeltaFacts",
    "GroupDim",
    "cell_rows",
    "city_sql",
    "level_for",
    "mask_of",
    "month_period",
    "province_sql",
]

# The base dimensions stored in a cell, in bit order.
BASE_DIMS: tuple[str, ...] = (
    "seller_region",
    "buyer_region",
    "kind",
    "subkind",
    "technical_field",
    "seller_entity_type",
    "flow",
    "office_id",
    "broker_path",
)
BIT: dict[str, int] = {name: 1 << i for i, name in enumerate(BASE_DIMS)}
# Region codes as registered (county level): only the ledger has them.
LEDGER_ONLY_DIMS: tuple[str, ...] = ("seller_county", "buyer_county")
_KIND, _SUBKIND = BIT["kind"], BIT["subkind"]


def _stored_columns(mask: int) -> tuple[str, ...]:
    # A subkind belongs to exactly one kind, so a level keeping the subkind also keeps the kind at no cost.
    if mask & _SUBKIND:
        mask |= _KIND
    return tuple(name for name in BASE_DIMS if mask & BIT[name])


def _materialized_levels() -> dict[int, tuple[str, ...]]:
    levels: dict[int, tuple[str, ...]] = {0: ()}
    for size in (1, 2):
        for combo in itertools.combinations(BASE_DIMS, size):
            mask = sum(BIT[name] for name in combo)
            if mask & _KIND and mask & _SUBKIND:
                continue
            levels[mask] = _stored_columns(mask)
    return levels


LEVELS: dict[int, tuple[str, ...]] = _materialized_levels()


def mask_of(dims: Iterable[str]) -> int:
    """The level bitmask needed to answer a query touching the base dimensions ``dims``."""
    mask = 0
    for name in dims:
        mask |= BIT[name]
    if mask & _SUBKIND:
        mask &= ~_KIND
    return mask


def level_for(dims: Iterable[str]) -> int | None:
    """The materialized level answering ``dims``, or None when the ledger must be summed directly."""
    dims = list(dims)
    if any(name not in BIT for name in dims):
        return None  # a ledger-only dimension (county-level regions)
    mask = mask_of(dims)
    return mask if mask in LEVELS else None


def month_period(day: dt.date) -> int:
    """yyyymm of a day: the period of a month cell, the same as the ledger's ``effective_period``."""
    return effective_period(day)


@dataclass(frozen=True, slots=True)
class DeltaFacts:
    """One signed delta with the dimension values of its contract (regions as registered: county codes)."""

    effective_on: dt.date
    seller_region: str
    buyer_region: str
    kind: str
    subkind: str
    technical_field: str
    seller_entity_type: str
    flow: str
    office_id: str
    broker_path: str
    contracts: int
    contract_amount_fen: int
    technology_amount_fen: int


# Per level: the positions (in BASE_DIMS order) of the dimensions it keeps.
_LEVEL_KEEPS: tuple[tuple[int, tuple[bool, ...]], ...] = tuple(
    (level, tuple(name in columns for name in BASE_DIMS)) for level, columns in LEVELS.items()
)


def cell_rows(facts: Iterable[DeltaFacts]) -> list[dict[str, Any]]:
    """The cell increments of ``facts``: one per level and grain, merged by key, sorted (stable lock order)."""
    merged: dict[tuple[Any, ...], list[int]] = {}
    for fact in facts:
        values = [getattr(fact, name) for name in BASE_DIMS]
        values[0] = city_code(fact.seller_region)
        values[1] = province_code(fact.buyer_region)
        sums = (fact.contracts, fact.contract_amount_fen, fact.technology_amount_fen)
        for period in (fact.effective_on.year, month_period(fact.effective_on)):
            for level, keeps in _LEVEL_KEEPS:
                key = (level, period, *[v if keep else "" for v, keep in zip(values, keeps, strict=True)])
                cell = merged.get(key)
                if cell is None:
                    merged[key] = list(sums)
                else:
                    cell[0] += sums[0]
                    cell[1] += sums[1]
                    cell[2] += sums[2]
    names = ("level", "period", *BASE_DIMS)
    return [
        {
            **dict(zip(names, key, strict=True)),
            "contracts": s[0],
            "contract_amount_fen": s[1],
            "technology_amount_fen": s[2],
        }
        for key, s in sorted(merged.items())
        if any(s)  # an amendment changing nothing, or deltas that cancel out within the batch
    ]


# ---------------------------------------------------------------------------------------------------------------
# Dimensions of the API (group_by and filters), each mapped onto a base dimension with an SQL expression that is
# identical on the cells and on the ledger (so partial results of both paths merge by key).

Expr = ColumnElement[Any]
_PROVINCE_ZEROS = "0" * (CODE_DIGITS - PROVINCE_DIGITS)
_CITY_ZEROS = "0" * (CODE_DIGITS - CITY_DIGITS)


def _substr(c: Expr, start: Expr | int, length: int) -> Expr:
    return sa.func.substr(c, start, length, type_=sa.String())


def province_sql(c: Expr) -> Expr:
    """SQL: the province of a region code, or the code itself abroad (shared.reference.regions.province_code)."""
    return sa.case((sa.func.length(c) == CODE_DIGITS, _substr(c, 1, PROVINCE_DIGITS) + _PROVINCE_ZEROS), else_=c)


def city_sql(c: Expr) -> Expr:
    """SQL: the prefecture of a region code (shared.reference.regions.city_code)."""
    return sa.case(
        (sa.func.length(c) != CODE_DIGITS, c),
        (_substr(c, PROVINCE_DIGITS + 1, CODE_DIGITS - PROVINCE_DIGITS) == _PROVINCE_ZEROS, c),
        else_=_substr(c, 1, CITY_DIGITS) + _CITY_ZEROS,
    )


def _broker_org(c: Expr) -> Expr:
    return sa.case((c == "", c), else_=_substr(c, sa.func.length(c) - (ORG_PATH_SEGMENT - 1), ORG_PATH_SEGMENT - 1))


def _broker_level(depth: int) -> Callable[[Expr], Expr]:
    def expr(c: Expr) -> Expr:
        return sa.case(
            (
                sa.func.length(c) >= ORG_PATH_SEGMENT * depth + 1,
                _substr(c, ORG_PATH_SEGMENT * (depth - 1) + 2, ORG_PATH_SEGMENT - 1),
            ),
            else_=sa.literal(""),
        )

    return expr


def _same(c: Expr) -> Expr:
    return c


@dataclass(frozen=True, slots=True)
class GroupDim:
    """An API dimension: the base dimension it reads (None for time) and how to derive its value."""

    name: str
    base: str | None
    expr: Callable[[Expr], Expr]
    description: str


def _year(p: Expr) -> Expr:
    # Year cells store yyyy, month cells yyyymm: both map to the year.
    return sa.case((p < 10000, p), else_=p // 100)


def _month(p: Expr) -> Expr:
    return p


def _quarter(p: Expr) -> Expr:
    return (p // 100) * 10 + ((p % 100) - 1) // 3 + 1


GROUP_DIMS: dict[str, GroupDim] = {
    d.name: d
    for d in (
        GroupDim("year", None, _year, "Calendar year of the effective date (registration, amendment, revocation)."),
        GroupDim("quarter", None, _quarter, "Quarter, as 2024-Q1."),
        GroupDim("month", None, _month, "Month, as 2024-03."),
        GroupDim("seller_province", "seller_region", province_sql, "Seller's province code (输出方 省)."),
        GroupDim("seller_city", "seller_region", _same, "Seller's prefecture code (市)."),
        GroupDim(
            "seller_county", "seller_county", _same, "Seller's region code as registered (区县; from the ledger)."
        ),
        GroupDim("buyer_province", "buyer_region", _same, "Buyer's province code, or its country code abroad."),
        GroupDim("buyer_city", "buyer_county", city_sql, "Buyer's prefecture code, or its country (from the ledger)."),
        GroupDim("buyer_county", "buyer_county", _same, "Buyer's region code as registered (from the ledger)."),
        GroupDim("kind", "kind", _same, "Contract kind (技术开发 …)."),
        GroupDim("subkind", "subkind", _same, "Contract subkind (委托开发 …)."),
        GroupDim("technical_field", "technical_field", _same, "Technical field (11 codes)."),
        GroupDim("seller_entity_type", "seller_entity_type", _same, "Seller's entity type (高等院校 …)."),
        GroupDim("flow", "flow", _same, "local, to_chongqing, to_sichuan, other_province or abroad."),
        GroupDim("office", "office_id", _same, "Registration office id."),
        GroupDim("broker_org", "broker_path", _broker_org, "The brokering organization ('' when none)."),
        GroupDim("broker_level1", "broker_path", _broker_level(1), "Its 1+4+N ancestor at depth 1 (the center)."),
        GroupDim("broker_level2", "broker_path", _broker_level(2), "Its ancestor at depth 2 (a sub-center)."),
        GroupDim("broker_level3", "broker_path", _broker_level(3), "Its ancestor at depth 3 (an institution)."),
    )
}
TIME_DIMS = frozenset({"year", "quarter", "month"})
