"""Response models of contract statistics. Amounts are integer fen plus exact decimal strings of 万元 and 亿元."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from services.market.stats.targets.schemas import TargetProgress
from shared.money import fen_to_wan_yuan, fen_to_yi_yuan

__all__ = [
    "Amounts",
    "BreakdownPublic",
    "BreakdownRowPublic",
    "CumulativePublic",
    "HeadlineStatsPublic",
    "MonthPoint",
    "Target",
    "YearTotal",
    "amounts",
]


class Amounts(BaseModel):
    """Number of contracts and the two amounts."""

    count: int = Field(description="Number of contracts (registrations minus revocations).")
    contract_amount_fen: int = Field(description="合同成交额, fen.")
    contract_amount_wan_yuan: str = Field(description="合同成交额 in 万元, exact decimal string.")
    contract_amount_yi_yuan: str = Field(description="合同成交额 in 亿元, exact decimal string.")
    technology_amount_fen: int = Field(description="技术交易额, fen.")
    technology_amount_wan_yuan: str
    technology_amount_yi_yuan: str

    @classmethod
    def of(cls, count: int, contract_fen: int, technology_fen: int) -> Amounts:
        """Amounts with their 万元/亿元 renderings."""
        return cls.model_construct(**amounts(count, contract_fen, technology_fen))


def amounts(count: int, contract_fen: int, technology_fen: int) -> dict[str, Any]:
    """The fields of :class:`Amounts` (built without validation: every value is computed here from integers)."""
    return {
        "count": count,
        "contract_amount_fen": contract_fen,
        "contract_amount_wan_yuan": fen_to_wan_yuan(contract_fen),
        "contract_amount_yi_yuan": fen_to_yi_yuan(contract_fen),
        "technology_amount_fen": technology_fen,
        "technology_amount_wan_yuan": fen_to_wan_yuan(technology_fen),
        "technology_amount_yi_yuan": fen_to_yi_yuan(technology_fen),
    }


class BreakdownRowPublic(Amounts):
    """One group of a breakdown."""

    key: dict[str, str | int | None] = Field(description="The group's value of each group_by dimension.")
    labels: dict[str, str] = Field(
        description="Chinese labels of the key values when known (regions, kinds …; the "
        "name of a verified organization for the broker dimensions).",
    )


class BreakdownPublic(BaseModel):
    """A breakdown of contract statistics."""

    date_from: dt.date | None = Field(alias="from")
    date_to: dt.date | None = Field(alias="to")
    group_by: list[str]
    filters: dict[str, str] = Field(description="Filters given, and the ones implied by the caller's scope.")
    source: str = Field(description="rollup, rollup+ledger (edge days summed from the ledger) or ledger.")
    rows: list[BreakdownRowPublic]
    total: Amounts


class Target(BaseModel):
    """The headline target of cumulative contract amount: the seeded contract_amount target for 510000 (see
    /market/stats/targets), or MARKET_STATS_TARGET_* when that target no longer exists."""

    since: dt.date
    until: dt.date
    contract_amount_fen: int
    contract_amount_yi_yuan: str
    achieved_fen: int = Field(description="Contract amount counted inside the target window so far.")
    progress: str = Field(description="achieved / target as a decimal fraction (6 places, truncated).")


class MonthPoint(Amounts):
    """One month of the series with running totals."""

    month: str
    cumulative_count: int
    cumulative_contract_amount_fen: int
    cumulative_contract_amount_yi_yuan: str
    cumulative_technology_amount_fen: int


class CumulativePublic(Amounts):
    """Cumulative totals since a day, the progress toward the target and the monthly series."""

    since: dt.date
    until: dt.date
    scope: dict[str, str]
    target: Target
    targets: list[TargetProgress] = Field(
        description="Progress toward every target within the caller's scope whose period meets [since, until]."
    )
    monthly: list[MonthPoint]


class YearTotal(Amounts):
    """One calendar year."""

    year: int


class HeadlineStatsPublic(BaseModel):
    """The public headline: cumulative contract amount in the target window, progress and yearly totals."""

    since: dt.date
    until: dt.date
    cumulative: Amounts
    target: Target
    targets: list[TargetProgress] = Field(description="Progress toward every target (/market/stats/targets).")
    yearly: list[YearTotal]
