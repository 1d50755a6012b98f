"""All SQL of the statistics: upserting rollup cells, reading them, and summing the ledger directly."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.market.contracts.models import contracts_table, deltas_table
from services.market.stats.cube import BASE_DIMS, GROUP_DIMS, LEVELS, Expr, city_sql, province_sql
from services.market.stats.models import cells_table

__all__ = ["Filter", "StatsRepository"]

_SUMS = ("contracts", "contract_amount_fen", "technology_amount_fen")
_KEY = ("level", "period", "shard", *BASE_DIMS)


@dataclass(frozen=True, slots=True)
class Filter:
    """A condition on one base dimension: equality, a prefix (regions, org paths) or a path segment (broker org)."""

    base: str
    op: str  # "eq", "prefix" or "contains"
    value: str


def _ledger_columns() -> dict[str, Expr]:
    c = contracts_table.c
    return {
        "seller_region": city_sql(c.seller_region_code),
        "buyer_region": province_sql(c.buyer_region_code),
        "seller_county": c.seller_region_code,
        "buyer_county": c.buyer_region_code,
        "kind": c.kind,
        "subkind": c.subkind,
        "technical_field": c.technical_field,
        "seller_entity_type": c.seller_entity_type,
        "flow": c.flow,
        "office_id": c.office_id,
        "broker_path": sa.func.coalesce(c.broker_org_path, ""),
    }


def _condition(column: Expr, flt: Filter) -> Expr:
    if flt.op == "eq":
        return column == flt.value
    if flt.op == "prefix":
        return column.startswith(flt.value, autoescape=True)
    return column.contains(flt.value, autoescape=True)


class StatsRepository:
    """Statistics SQL on one session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> StatsRepository:
        """The repository of ``session``."""
        return cls(session)

    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def _insert(self) -> Any:
        return (postgresql.insert if self._dialect == "postgresql" else sqlite.insert)(cells_table)

    def _upsert(self, stmt: Any) -> Any:
        excluded = stmt.excluded
        return stmt.on_conflict_do_update(
            index_elements=list(_KEY),
            set_={name: cells_table.c[name] + excluded[name] for name in _SUMS},
        )

    async def add_cells(self, rows: Sequence[dict[str, Any]]) -> None:
        """Add increments to cells (rows already merged by key and sorted, so lock order is stable)."""
        if rows:
            # One cached statement executed for many parameter sets: compiling a 90-row VALUES list on every call
            # costs far more than the database work.
            await self.session.execute(self._upsert(self._insert()), list(rows))

    async def clear_cells(self) -> None:
        """Delete every cell (before a rebuild from the ledger)."""
        await self.session.execute(sa.delete(cells_table))

    async def fold_ledger(self, *, import_id: Any | None = None) -> None:
        """Add the ledger rows of one import (or all of them) to every level and grain, in SQL.

        One pass over the ledger groups it at the finest grain (month × every dimension) into a temporary table;
        each level and grain is then one grouped upsert from that much smaller table.
        """
        ledger = _ledger_columns()
        d = deltas_table.c
        connection = await self.session.connection()
        await connection.run_sync(lambda sync: _FOLD.create(sync))
        await connection.run_sync(lambda sync: _FOLD_CELLS.create(sync))
        try:
            keys: list[Expr] = [d.effective_period]
            for name in BASE_DIMS:
                keys.append(_office_hex(ledger[name]) if name == "office_id" else ledger[name])
            select = (
                sa.select(
                    *keys,
                    sa.func.sum(d.count_delta),
                    sa.func.sum(d.contract_amount_delta_fen),
                    sa.func.sum(d.technology_amount_delta_fen),
                )
                .select_from(deltas_table.join(contracts_table, contracts_table.c.id == d.contract_id))
                .where(d.import_id == import_id if import_id is not None else sa.true())
                .group_by(*[sa.literal_column(str(i + 1)) for i in range(len(keys))])
            )
            await self.session.execute(sa.insert(_FOLD).from_select(["period", *BASE_DIMS, *_SUMS], select))
            f, t = _FOLD.c, _FOLD_CELLS.c
            pairs = {level: columns for level, columns in LEVELS.items() if bin(level).count("1") == 2}
            # Month cells of every pair level: one pass over the fine table each.
            for level, columns in pairs.items():
                await self._fold_into_cells_table(f, level, columns, source_level=None)
            # Singles and the total from the (much smaller) pair cells just computed.
            for level, columns in LEVELS.items():
                if level in pairs:
                    continue
                source = next(p for p in pairs if p & level == level) if level else min(pairs)
                await self._fold_into_cells_table(t, level, columns, source_level=source)
            # Year cells from month cells, then everything into the rollup in one upsert.
            year_keys = [t.level, t.period // 100, *[t[n] for n in BASE_DIMS]]
            await self.session.execute(
                sa.insert(_FOLD_CELLS).from_select(
                    ["level", "period", *BASE_DIMS, *_SUMS],
                    sa.select(*year_keys, *[sa.func.sum(t[n]) for n in _SUMS])
                    .where(t.period >= 10000)
                    .group_by(*[sa.literal_column(str(i + 1)) for i in range(len(year_keys))]),
                )
            )
            merged = sa.select(
                t.level, t.period, sa.literal(0), *[t[n] for n in BASE_DIMS], *[t[n] for n in _SUMS]
            ).where(
                sa.true()  # SQLite: a WHERE keeps "ON CONFLICT" from parsing as a join constraint
            )
            await self.session.execute(self._upsert(self._insert().from_select([*_KEY, *_SUMS], merged)))
        finally:
            await connection.run_sync(lambda sync: _FOLD.drop(sync))
            await connection.run_sync(lambda sync: _FOLD_CELLS.drop(sync))

    async def _fold_into_cells_table(
        self, source: Any, level: int, columns: tuple[str, ...], *, source_level: int | None
    ) -> None:
        keys: list[tuple[Expr, bool]] = [(sa.literal(level), False), (source.period, True)]
        keys += [(source[n], True) if n in columns else (sa.literal(""), False) for n in BASE_DIMS]
        select = sa.select(*[k for k, _ in keys], *[sa.func.sum(source[n]) for n in _SUMS]).group_by(
            *[sa.literal_column(str(i + 1)) for i, (_, grouped) in enumerate(keys) if grouped]
        )
        if source_level is not None:
            select = select.where(source.level == source_level)
        await self.session.execute(sa.insert(_FOLD_CELLS).from_select(["level", "period", *BASE_DIMS, *_SUMS], select))

    async def sum_cells(
        self,
        *,
        level: int,
        periods: Sequence[tuple[int, int]],
        group_by: Sequence[str],
        filters: Sequence[Filter],
    ) -> list[tuple[Any, ...]]:
        """Sums of one level's cells over period ranges, grouped by API dimensions: (*keys, count, amounts)."""
        if not periods:
            return []
        c = cells_table.c
        conditions: list[Expr] = [c.level == level]
        conditions.append(sa.or_(*[c.period.between(lo, hi) for lo, hi in periods]))
        conditions += [_condition(c[f.base], f) for f in filters]
        return await self._grouped(
            keys=[_cell_key(g) for g in group_by],
            sums=[sa.func.sum(c.contracts), sa.func.sum(c.contract_amount_fen), sa.func.sum(c.technology_amount_fen)],
            source=cells_table,
            conditions=conditions,
        )

    async def sum_ledger(
        self,
        *,
        days: tuple[dt.date, dt.date] | None,
        group_by: Sequence[str],
        filters: Sequence[Filter],
    ) -> list[tuple[Any, ...]]:
        """Sums of the ledger (deltas joined to their contracts) between two days inclusive (None: all)."""
        ledger = _ledger_columns()
        d = deltas_table.c
        conditions: list[Expr] = []
        if days is not None:
            conditions.append(d.effective_on.between(days[0], days[1]))
        for f in filters:
            column = ledger[f.base]
            if f.base == "office_id":
                conditions.append(column == _uuid(f.value))
            else:
                conditions.append(_condition(column, f))
        keys = []
        for g in group_by:
            dim = GROUP_DIMS[g]
            keys.append(dim.expr(d.effective_period if dim.base is None else ledger[dim.base]))
        return await self._grouped(
            keys=keys,
            sums=[
                sa.func.sum(d.count_delta),
                sa.func.sum(d.contract_amount_delta_fen),
                sa.func.sum(d.technology_amount_delta_fen),
            ],
            source=deltas_table.join(contracts_table, contracts_table.c.id == d.contract_id),
            conditions=conditions,
        )

    async def _grouped(
        self, *, keys: list[Expr], sums: list[Expr], source: Any, conditions: list[Expr]
    ) -> list[tuple[Any, ...]]:
        stmt = sa.select(*keys, *sums).select_from(source)
        if conditions:
            stmt = stmt.where(*conditions)
        if keys:
            # Group by position: bound literals inside the key expressions would otherwise differ between the
            # select list and GROUP BY on PostgreSQL.
            stmt = stmt.group_by(*[sa.literal_column(str(i + 1)) for i in range(len(keys))])
        result = await self.session.execute(stmt)
        return [tuple(row) for row in result.all()]


def _cell_key(name: str) -> Expr:
    dim = GROUP_DIMS[name]
    column = cells_table.c.period if dim.base is None else cells_table.c[dim.base]
    return dim.expr(column)


# The finest grain of a fold (see StatsRepository.fold_ledger): a temporary table, outside the service's metadata.
_FOLD = sa.Table(
    "contract_stat_fold",
    sa.MetaData(),
    sa.Column("period", sa.Integer),
    *[sa.Column(name, sa.String(400)) for name in BASE_DIMS],
    *[sa.Column(name, sa.BigInteger) for name in _SUMS],
    prefixes=["TEMPORARY"],
)


_FOLD_CELLS = sa.Table(
    "contract_stat_fold_cells",
    sa.MetaData(),
    sa.Column("level", sa.Integer),
    sa.Column("period", sa.Integer),
    *[sa.Column(name, sa.String(400)) for name in BASE_DIMS],
    *[sa.Column(name, sa.BigInteger) for name in _SUMS],
    prefixes=["TEMPORARY"],
)


def _uuid(value: str) -> uuid.UUID:
    return uuid.UUID(value)


def _office_hex(column: Expr) -> Expr:
    # Cells keep office ids as 32 hex digits: SQLite stores UUIDs that way, PostgreSQL renders them with dashes.
    return sa.func.replace(sa.cast(column, sa.String), "-", "")
