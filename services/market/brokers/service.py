"""Broker performance: proposals, contracts from deals and the statistics of a broker subtree, by month."""

from __future__ import annotations

import datetime as dt
import statistics
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from services.market.brokers.schemas import SORT_KEYS, BrokerCard, InstitutionRow, Metrics, MonthMetrics
from services.market.contracts.repository import ContractRepository
from services.market.directory import service as directory
from services.market.directory.schemas import OrganizationCard
from services.market.proposals.repository import ProposalRepository
from services.market.stats import service as stats_service
from services.market.stats.repository import Filter
from shared.clock import CHINA_TZ, china_date, today_in_china
from shared.errors import Forbidden, NotFound, ValidationFailed
from shared.security import Principal

__all__ = ["BROKER_KINDS", "MAX_PERIOD_DAYS", "Period", "broker_of", "institutions", "performance", "period"]

BROKER_KINDS = frozenset({"transfer_institution", "sub_center", "center"})
ENDED = ("declined", "withdrawn", "expired")
MAX_PERIOD_DAYS = 366 * 10


# (broker org path, instant) → the key an event counts under (a month, an institution), None to leave it out.
KeyOfPath = Callable[[str, dt.datetime], str | None]
# A value of the statistics' group dimension → the key its sums count under.
KeyOfStats = Callable[[object], str | None]


@dataclass(frozen=True, slots=True)
class Period:
    """Beijing calendar days [first, last], and the UTC instants [since, until) that bound them."""

    first: dt.date
    last: dt.date

    @property
    def since(self) -> dt.datetime:
        return dt.datetime.combine(self.first, dt.time.min, tzinfo=CHINA_TZ)

    @property
    def until(self) -> dt.datetime:
        return dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time.min, tzinfo=CHINA_TZ)

    def holds(self, instant: dt.datetime | None) -> bool:
        return instant is not None and self.since <= instant < self.until


def period(date_from: dt.date | None, date_to: dt.date | None) -> Period:
    """The period asked for: default from 1 January of this year (Beijing) to today; 422 naming a bad bound."""
    last = date_to or today_in_china()
    first = date_from or last.replace(month=1, day=1)
    if first > last:
        raise ValidationFailed.field("from", "must not be after `to`", type="date_order")
    if (last - first).days > MAX_PERIOD_DAYS:
        raise ValidationFailed.field("from", "a period spans at most ten years", type="period_too_long")
    return Period(first, last)


def _may_see(principal: Principal, broker: OrganizationCard) -> bool:
    """Members of the broker organization and of its ancestors (statisticians of a sub-center included), the
    statisticians of the center and governments, and platform admins."""
    if principal.has_role("platform_admin"):
        return True
    if principal.has_role("statistician") and principal.org_kind in ("center", "government"):
        return True
    return principal.org_path is not None and broker.path.startswith(principal.org_path)


async def broker_of(*, session: AsyncSession, principal: Principal, org_id: uuid.UUID) -> OrganizationCard:
    """The broker organization if the caller may see its performance: 404 if no such broker, 403 if not entitled."""
    broker = await directory.get(session=session, org_id=org_id)
    if broker is None or broker.kind not in BROKER_KINDS:
        raise NotFound("No such broker organization (a transfer institution, sub-center or the center).")
    if not _may_see(principal, broker):
        raise Forbidden(
            "A broker's performance is for its own members, the organizations above it in the 1+4+N tree, "
            "statisticians in scope and platform admins."
        )
    return broker


def card(broker: OrganizationCard) -> BrokerCard:
    """The public face of a broker organization."""
    return BrokerCard(id=broker.id, name=broker.name, kind=broker.kind, region_code=broker.region_code)


@dataclass
class _Tally:
    """Counters of one broker subtree and one month (or the whole period)."""

    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    days_to_agreement: list[float] = field(default_factory=list)

    def metrics(self) -> Metrics:
        days = self.days_to_agreement
        return Metrics(
            proposals_made=self.counts["proposals_made"],
            agreed=self.counts["agreed"],
            declined=self.counts["declined"],
            withdrawn=self.counts["withdrawn"],
            expired=self.counts["expired"],
            median_days_to_agreement=round(statistics.median(days), 1) if days else None,
            contracts_submitted=self.counts["contracts_submitted"],
            registered_count=self.counts["registered_count"],
            contract_amount_fen=self.counts["contract_amount_fen"],
            technology_amount_fen=self.counts["technology_amount_fen"],
        )


def _month(instant: dt.datetime) -> str:
    day = china_date(instant)
    return f"{day.year}-{day.month:02d}"


class _Ledger:
    """Tallies per key (a month, or an institution) plus the total."""

    def __init__(self) -> None:
        self.total = _Tally()
        self.by_key: dict[str, _Tally] = defaultdict(_Tally)

    def add(self, key: str | None, name: str, amount: int = 1) -> None:
        self.total.counts[name] += amount
        if key is not None:
            self.by_key[key].counts[name] += amount

    def agreement(self, key: str | None, days: float) -> None:
        self.total.days_to_agreement.append(days)
        if key is not None:
            self.by_key[key].days_to_agreement.append(days)


async def _tally(
    session: AsyncSession,
    *,
    broker: OrganizationCard,
    span: Period,
    key_of_path: KeyOfPath,
    stats_group: str,
    key_of_stats: KeyOfStats,
) -> _Ledger:
    """Count proposals, contracts from deals and registered amounts of ``broker``'s subtree, keyed by the caller."""
    ledger = _Ledger()
    rows = await ProposalRepository(session).brokered_under(path=broker.path, since=span.since, until=span.until)
    for path, status, created, agreed, updated in rows:
        if span.holds(created):
            ledger.add(key_of_path(path, created), "proposals_made")
        if agreed is not None and span.holds(agreed):
            key = key_of_path(path, agreed)
            ledger.add(key, "agreed")
            ledger.agreement(key, (agreed - created).total_seconds() / 86_400)
        if status in ENDED and span.holds(updated):
            ledger.add(key_of_path(path, updated), status)
    contracts = await ContractRepository.from_session(session).submitted_from_deals(
        broker_path=broker.path, since=span.since, until=span.until
    )
    for path, submitted in contracts:
        ledger.add(key_of_path(path, submitted), "contracts_submitted")
    # The statistics' own query with their broker_org filter: the amounts equal GET /market/stats/contracts?broker_org=
    credited = await stats_service.breakdown(
        session=session,
        date_from=span.first,
        date_to=span.last,
        group_by=[stats_group],
        filters=[Filter("broker_path", "contains", f"/{broker.id}/")],
    )
    for row in credited.rows:
        key = key_of_stats(row.key[stats_group])
        ledger.add(key, "registered_count", row.count)
        ledger.add(key, "contract_amount_fen", row.contract_amount_fen)
        ledger.add(key, "technology_amount_fen", row.technology_amount_fen)
    return ledger


async def performance(
    *, session: AsyncSession, broker: OrganizationCard, span: Period
) -> tuple[Metrics, list[MonthMetrics]]:
    """The totals and every month of the period (months without activity included, as zeros)."""
    ledger = await _tally(
        session,
        broker=broker,
        span=span,
        key_of_path=lambda _path, instant: _month(instant),
        stats_group="month",
        key_of_stats=lambda value: str(value),
    )
    monthly = [
        MonthMetrics(month=month, **ledger.by_key[month].metrics().model_dump())
        for month in stats_service.month_series(span.first, span.last)
    ]
    return ledger.total.metrics(), monthly


async def institutions(
    *, session: AsyncSession, broker: OrganizationCard, span: Period, sort: str
) -> list[InstitutionRow]:
    """Every transfer institution below ``broker`` with its totals, sorted by ``sort`` (a metric, "-" descending)."""
    descending = sort.startswith("-")
    key_name = sort.lstrip("-")
    if key_name not in SORT_KEYS:
        raise ValidationFailed.field("sort", f"sort by one of: {', '.join(SORT_KEYS)} (prefix - for descending)")
    below = [o for o in await directory.under(session=session, path=broker.path) if o.id != broker.id]
    members = [o for o in below if o.kind == "transfer_institution"]
    by_path = {o.path: str(o.id) for o in members}
    by_id = {str(o.id): o for o in below}

    def institution_of_path(path: str) -> str | None:
        # An institution's deals are those of its own path and anything below it.
        return next((org_id for prefix, org_id in by_path.items() if path.startswith(prefix)), None)

    def institution_of_stats(value: object) -> str | None:
        org = by_id.get(str(value))
        return institution_of_path(org.path) if org is not None else None

    ledger = await _tally(
        session,
        broker=broker,
        span=span,
        key_of_path=lambda path, _instant: institution_of_path(path),
        stats_group="broker_org",
        key_of_stats=institution_of_stats,
    )
    rows = [InstitutionRow(organization=card(o), totals=ledger.by_key[str(o.id)].metrics()) for o in members]

    def order(row: InstitutionRow) -> tuple[bool, float, str]:
        value = getattr(row.totals, key_name)
        missing = value is None
        number = float(value or 0)
        return (missing, -number if descending else number, row.organization.name)

    return sorted(rows, key=order)
