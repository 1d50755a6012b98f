"""All SQL of the statistics: folding deltas into rollup cells, reading cells with the unfolded tail, the ledger."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.market.contracts.models import contracts_table, deltas_table
from services.market.stats.cube import BASE_DIMS, GROUP_DIMS, LEVELS, DeltaFacts, Expr, city_sql, province_sql
from services.market.stats.models import cells_table

__all__ = ["Filter", "StatsRepository"]

_SUMS = ("contracts", "contract_amount_fen", "technology_amount_fen")
_KEY = ("level", "period", *BASE_DIMS)
# Every fold on PostgreSQL holds this transaction-level advisory lock: folds take turns, so two of them never
# upsert the same cells in different orders (a deadlock) — requests never touch cells, so they never wait on it.
_FOLD_LOCK = 0x7465636853544154  # "techSTAT"


@dataclass(frozen=True, slots=True)
class Filter:
    """A condition on one base dimension: equality, a prefix (regions, org paths) or a path segment (broker org)."""

    base: str
    op: str  # "eq", "prefix" or "contains"
    value: str


def _build_ledger_columns() -> dict[str, Expr]:
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


# The ledger's dimension expressions, as cells store them; built once (SQL expressions are immutable).
_LEDGER_COLUMNS = _build_ledger_columns()


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

    async def add_cells(self, rows: Sequence[dict[str, Any]]) -> None:
        """Add increments to cells (rows already merged by key and sorted)."""
        if rows:
            # One cached statement executed for many parameter sets: compiling a VALUES list of thousands of rows
            # on every call would cost far more than the database work.
            await self.session.execute(_UPSERT[self._dialect], list(rows))

    async def lock_folds(self, *, wait: bool) -> bool:
        """Take the fold lock for this transaction (PostgreSQL; SQLite serializes writers anyway).

        With ``wait`` false, returns False at once when another fold holds it.
        """
        if self._dialect != "postgresql":
            return True
        function = sa.func.pg_advisory_xact_lock if wait else sa.func.pg_try_advisory_xact_lock
        result = (await self.session.execute(sa.select(function(_FOLD_LOCK)))).scalar_one()
        return result is not False

    async def take_unfolded(self, limit: int) -> list[DeltaFacts]:
        """Up to ``limit`` unfolded deltas with their contract's dimensions, flagged folded in this transaction."""
        d = deltas_table.c
        ledger = _LEDGER_COLUMNS
        fields: dict[str, Expr] = {
            "effective_on": d.effective_on,
            "seller_region": ledger["seller_county"],  # as registered; cells reduce regions themselves
            "buyer_region": ledger["buyer_county"],
            **{name: ledger[name] for name in BASE_DIMS[2:7]},  # kind … flow
            "office_id": _office_hex(ledger["office_id"]),  # as cells store it
            "broker_path": ledger["broker_path"],
            "contracts": d.count_delta,
            "contract_amount_fen": d.contract_amount_delta_fen,
            "technology_amount_fen": d.technology_amount_delta_fen,
        }
        stmt = (
            sa.select(d.id, *fields.values())
            .select_from(deltas_table.join(contracts_table, contracts_table.c.id == d.contract_id))
            .where(sa.not_(d.folded))
            .order_by(d.id)
            .limit(limit)
        )
        rows = list((await self.session.execute(stmt)).all())
        if rows:
            await self.session.execute(
                sa.update(deltas_table).where(d.id.in_([r[0] for r in rows])).values(folded=True)
            )
        return [DeltaFacts(**dict(zip(fields, r[1:], strict=True))) for r in rows]

    async def lock_ledger(self) -> None:
        """Keep new deltas out until the transaction ends (PostgreSQL; SQLite serializes writers anyway)."""
        if self._dialect == "postgresql":
            await self.session.execute(sa.text("LOCK TABLE contract_deltas IN EXCLUSIVE MODE"))

    async def mark_all_folded(self) -> None:
        """Flag every delta folded (a rebuild folds the whole ledger)."""
        await self.session.execute(sa.update(deltas_table).where(sa.not_(deltas_table.c.folded)).values(folded=True))

    async def count_unfolded(self) -> int:
        """How many deltas wait for the fold."""
        stmt = sa.select(sa.func.count()).select_from(deltas_table).where(sa.not_(deltas_table.c.folded))
        return int((await self.session.execute(stmt)).scalar_one())

    async def clear_cells(self) -> None:
        """Delete every cell (before a rebuild from the ledger)."""
        await self.session.execute(sa.delete(cells_table))

    async def fold_ledger(self, *, import_id: Any | None = None) -> None:
        """Add the ledger rows of one import (or all of them) to every level and grain, in SQL.

        One pass over the ledger groups it at the finest grain (month × every dimension) into a temporary table;
        each level and grain is then one grouped upsert from that much smaller table.
        """
        ledger = _LEDGER_COLUMNS
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
            merged = sa.select(t.level, t.period, *[t[n] for n in BASE_DIMS], *[t[n] for n in _SUMS]).where(
                sa.true()  # SQLite: a WHERE keeps "ON CONFLICT" from parsing as a join constraint
            )
            insert = (postgresql.insert if self._dialect == "postgresql" else sqlite.insert)(cells_table)
            await self.session.execute(_upsert(insert.from_select([*_KEY, *_SUMS], merged)))
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

    async def sum_rollup(
        self,
        *,
        level: int,
        periods: Sequence[tuple[int, int]],
        months: tuple[int, int] | None,
        edges: Sequence[tuple[dt.date, dt.date]],
        group_by: Sequence[str],
        filters: Sequence[Filter],
    ) -> list[tuple[Any, ...]]:
        """Sums over a date range in ONE statement (one snapshot), grouped by API dimensions: (*keys, count, amounts).

        Three kinds of branch, each grouped, joined by UNION ALL (the caller merges rows with equal keys):
        one level's cells over the whole-month ``periods``; the unfolded deltas of the whole ``months`` span (yyyymm
        bounds) — the part of the ledger the cells do not hold yet; and every delta of each edge day range.
        A fold commits cells and flags together, so in any snapshot each delta is in exactly one branch.
        """
        if not periods and months is None and not edges:
            return []
        shape = _Shape(level, tuple(group_by), _filter_shape(filters), len(periods), months is not None, len(edges))
        params: dict[str, Any] = {"level": level, **_filter_values(filters, prefix="c", ledger=False)}
        params.update(_filter_values(filters, prefix="l", ledger=True))
        for i, (lo, hi) in enumerate(periods):
            params[f"period_lo{i}"], params[f"period_hi{i}"] = lo, hi
        if months is not None:
            params["month_lo"], params["month_hi"] = months
        for i, (first, last) in enumerate(edges):
            params[f"edge_lo{i}"], params[f"edge_hi{i}"] = first, last
        result = await self.session.execute(_rollup_statement(shape), params)
        return [tuple(row) for row in result.all()]

    async def sum_ledger(
        self,
        *,
        days: tuple[dt.date, dt.date] | None,
        group_by: Sequence[str],
        filters: Sequence[Filter],
    ) -> list[tuple[Any, ...]]:
        """Sums of the ledger (deltas joined to their contracts) between two days inclusive (None: all)."""
        params = _filter_values(filters, prefix="l", ledger=True)
        if days is not None:
            params["edge_lo0"], params["edge_hi0"] = days
        stmt = _ledger_statement(tuple(group_by), _filter_shape(filters), days is not None)
        result = await self.session.execute(stmt, params)
        return [tuple(row) for row in result.all()]


# -- statements, built once per shape ----------------------------------------------------------------------------
# A statistics query is one of a few hundred shapes (level, group_by, which filters, how many period ranges and
# edge days); its values are bound parameters. Building the SQLAlchemy expression took a quarter of a request, so
# each shape's statement is built once and reused (SQLAlchemy then also reuses its compiled form).

FilterShape = tuple[tuple[str, str], ...]
_CELL_COLUMNS: dict[str, Expr] = {name: cells_table.c[name] for name in BASE_DIMS}


@dataclass(frozen=True, slots=True)
class _Shape:
    level: int
    group_by: tuple[str, ...]
    filters: FilterShape
    periods: int
    months: bool
    edges: int


def _filter_shape(filters: Sequence[Filter]) -> FilterShape:
    return tuple((f.base, f.op) for f in filters)


def _escape_like(value: str) -> str:
    # "/" escapes, as SQLAlchemy's own autoescape does: it needs no quoting rules of its own on either backend.
    return value.replace("/", "//").replace("%", "/%").replace("_", "/_")


def _filter_values(filters: Sequence[Filter], *, prefix: str, ledger: bool) -> dict[str, Any]:
    """The bound values of ``filters`` for the conditions of ``_filter_conditions`` with the same prefix."""
    values: dict[str, Any] = {}
    for i, f in enumerate(filters):
        if ledger and f.base == "office_id":
            value: Any = _uuid(f.value)  # the ledger's typed column (cells keep 32 hex digits)
        elif f.op == "eq":
            value = f.value
        elif f.op == "prefix":
            value = _escape_like(f.value) + "%"
        else:
            value = "%" + _escape_like(f.value) + "%"
        values[f"{prefix}{i}"] = value
    return values


def _filter_conditions(columns: Mapping[str, Any], shape: FilterShape, *, prefix: str, ledger: bool) -> list[Expr]:
    conditions: list[Expr] = []
    for i, (base, op) in enumerate(shape):
        column = columns[base]
        if ledger and base == "office_id":
            conditions.append(column == sa.bindparam(f"{prefix}{i}", type_=sa.Uuid()))
        elif op == "eq":
            conditions.append(column == sa.bindparam(f"{prefix}{i}", type_=sa.String()))
        else:
            conditions.append(column.like(sa.bindparam(f"{prefix}{i}", type_=sa.String()), escape="/"))
    return conditions


@functools.lru_cache(maxsize=1024)
def _rollup_statement(shape: _Shape) -> Any:
    c = cells_table.c
    d = deltas_table.c
    selects: list[sa.Select[Any]] = []
    if shape.periods:
        conditions: list[Expr] = [c.level == sa.bindparam("level", type_=sa.Integer())]
        ranges = [
            c.period.between(sa.bindparam(f"period_lo{i}", type_=sa.Integer()), sa.bindparam(f"period_hi{i}"))
            for i in range(shape.periods)
        ]
        conditions.append(sa.or_(*ranges))
        conditions += _filter_conditions(_CELL_COLUMNS, shape.filters, prefix="c", ledger=False)
        selects.append(
            _grouped(
                keys=[_cell_key(g) for g in shape.group_by],
                sums=[sa.func.sum(c[name]) for name in _SUMS],
                source=cells_table,
                conditions=conditions,
            )
        )
    if shape.months:
        months = d.effective_period.between(sa.bindparam("month_lo", type_=sa.Integer()), sa.bindparam("month_hi"))
        selects.append(_ledger_select([sa.not_(d.folded), months], shape.group_by, shape.filters))
    for i in range(shape.edges):
        days = d.effective_on.between(sa.bindparam(f"edge_lo{i}", type_=sa.Date()), sa.bindparam(f"edge_hi{i}"))
        selects.append(_ledger_select([days], shape.group_by, shape.filters))
    return selects[0] if len(selects) == 1 else sa.union_all(*selects)


@functools.lru_cache(maxsize=256)
def _ledger_statement(group_by: tuple[str, ...], filters: FilterShape, bounded: bool) -> sa.Select[Any]:
    d = deltas_table.c
    days = d.effective_on.between(sa.bindparam("edge_lo0", type_=sa.Date()), sa.bindparam("edge_hi0"))
    return _ledger_select([days] if bounded else [], group_by, filters)


def _ledger_select(conditions: Sequence[Expr], group_by: Sequence[str], filters: FilterShape) -> sa.Select[Any]:
    """Grouped sums of the deltas joined to their contracts, keys computed exactly as the cells store them."""
    ledger = _LEDGER_COLUMNS
    d = deltas_table.c
    conditions = [*conditions, *_filter_conditions(ledger, filters, prefix="l", ledger=True)]
    keys = []
    for g in group_by:
        dim = GROUP_DIMS[g]
        if dim.base is None:
            keys.append(dim.expr(d.effective_period))
        elif dim.base == "office_id":
            keys.append(dim.expr(_office_hex(ledger["office_id"])))  # as cells store it (UNION needs one type)
        else:
            keys.append(dim.expr(ledger[dim.base]))
    return _grouped(
        keys=keys,
        sums=[
            sa.func.sum(d.count_delta),
            sa.func.sum(d.contract_amount_delta_fen),
            sa.func.sum(d.technology_amount_delta_fen),
        ],
        source=deltas_table.join(contracts_table, contracts_table.c.id == d.contract_id),
        conditions=conditions,
    )


def _grouped(*, keys: list[Expr], sums: list[Expr], source: Any, conditions: list[Expr]) -> sa.Select[Any]:
    stmt = sa.select(*keys, *sums).select_from(source)
    if conditions:
        stmt = stmt.where(*conditions)
    if keys:
        # Group by position: bound literals inside the key expressions would otherwise differ between the
        # select list and GROUP BY on PostgreSQL.
        stmt = stmt.group_by(*[sa.literal_column(str(i + 1)) for i in range(len(keys))])
    return stmt


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


def _upsert(insert: Any) -> Any:
    excluded = insert.excluded
    return insert.on_conflict_do_update(
        index_elements=list(_KEY),
        set_={name: cells_table.c[name] + excluded[name] for name in _SUMS},
    )


_UPSERT: dict[str, Any] = {
    "postgresql": _upsert(postgresql.insert(cells_table)),
    "sqlite": _upsert(sqlite.insert(cells_table)),
}


def _uuid(value: str) -> uuid.UUID:
    return uuid.UUID(value)


def _office_hex(column: Expr) -> Expr:
    # Cells keep office ids as 32 hex digits: SQLite stores UUIDs that way, PostgreSQL renders them with dashes.
    return sa.func.replace(sa.cast(column, sa.String), "-", "")
