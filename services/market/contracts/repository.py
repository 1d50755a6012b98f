"""All SQL of technology contracts: rows, conditional status transitions, registration, deltas, numbering counters.

A contract's history is the market audit trail (``market_audit_events``, entity kind ``contract``): the service
writes and reads it through services.market.audit; only registration writes its audit row here, because on
PostgreSQL that row is part of the one registering statement.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.market.audit.models import AuditEvent
from services.market.contracts.models import (
    AUDIT_ENTITY_KIND,
    contracts_table,
    counters_table,
    delta_row,
    deltas_table,
    effective_period,
    imports_table,
)
from services.market.offices.models import offices_table
from shared.db import UTCDateTime, statement_connection

__all__ = ["ContractRepository", "Registration", "RegistrationOutcome", "Visibility", "registration_no"]

Row = Mapping[Any, Any]


@dataclass(frozen=True, slots=True)
class Registration:
    """What ``ContractRepository.register`` needs: the contract, the registrar's office, the confirmed amount, the stamps."""

    contract_id: uuid.UUID
    office_id: uuid.UUID
    technology_amount_fen: int | None  # None: the claimed amount
    registered_on: dt.date
    now: dt.datetime
    registrar_subject: str
    request_id: str | None
    event_id: uuid.UUID
    delta_id: uuid.UUID

    @property
    def period(self) -> int:
        """The delta's effective month, YYYYMM."""
        return effective_period(self.registered_on)

    def params(self) -> dict[str, Any]:
        """Bind parameters of the statement."""
        values = {name: getattr(self, name) for name in self.__slots__}
        values["year"] = self.registered_on.year
        values["period"] = self.period
        values["entity_kind"] = AUDIT_ENTITY_KIND
        return values


@dataclass(frozen=True, slots=True)
class RegistrationOutcome:
    """The registered contract row, or None with the serial the attempt took (None: nothing was registrable).

    A serial without a row means the office's year is exhausted (above 999999).
    """

    row: Row | None
    serial: int | None


def registration_no(year: int, office_region: str, serial: int) -> str:
    """16 digits: year (4) + the office's region code (6) + serial (6). (_REGISTER_AT_ONCE builds the same.)"""
    return f"{year:04d}{office_region}{serial:06d}"


MAX_SERIAL = 999_999

_AUDIT_TABLE: sa.Table = AuditEvent.__table__  # type: ignore[attr-defined]
_CONTRACT_COLUMNS = ", ".join(f"contracts.{column.name}" for column in contracts_table.c)
# Lock the contract if it is still submitted at the registrar's office and the confirmed technology amount fits;
# count it at the office; number and register it; its history row; its unfolded delta — or, when any condition
# fails, nothing at all: every step reads the one before it. Only our own column names are interpolated.
_REGISTER_AT_ONCE = (
    sa.text(
        f"""
WITH target AS (
    SELECT contracts.id, contracts.office_id, registration_offices.region_code,
        COALESCE(:technology_amount_fen, contracts.claimed_technology_amount_fen) AS technology,
        contracts.contract_amount_fen
    FROM contracts JOIN registration_offices ON registration_offices.id = contracts.office_id
    WHERE contracts.id = :contract_id AND contracts.office_id = :office_id AND contracts.status = 'submitted'
    FOR UPDATE OF contracts
), checked AS (
    SELECT * FROM target WHERE technology <= contract_amount_fen
), serial AS (
    INSERT INTO contract_registration_counters (office_id, year, last_serial)
    SELECT office_id, :year, 1 FROM checked
    ON CONFLICT (office_id, year) DO UPDATE SET last_serial = contract_registration_counters.last_serial + 1
    RETURNING last_serial
), registered AS (
    UPDATE contracts SET status = 'registered', technology_amount_fen = checked.technology,
        registered_on = :registered_on, registered_at = :now, registrar_subject = :registrar_subject,
        updated_at = :now, version = contracts.version + 2,
        registration_no = CAST(:year AS TEXT) || checked.region_code || lpad(CAST(serial.last_serial AS TEXT), 6, '0')
    FROM serial, checked WHERE contracts.id = checked.id AND serial.last_serial <= 999999
    RETURNING {_CONTRACT_COLUMNS}
), event AS (
    INSERT INTO market_audit_events (id, entity_kind, entity_id, action, from_status, to_status, actor_subject,
        actor_org_id, request_id, occurred_at, details)
    SELECT :event_id, :entity_kind, id, 'register', 'submitted', 'registered', :registrar_subject, :office_id,
        :request_id, :now, json_build_object('technology_amount_fen', technology_amount_fen)
    FROM registered
), delta AS (
    INSERT INTO contract_deltas (id, contract_id, action, effective_on, effective_period, count_delta,
        contract_amount_delta_fen, technology_amount_delta_fen, reason, actor_subject, import_id, created_at, folded)
    SELECT :delta_id, id, 'register', :registered_on, :period, 1, contract_amount_fen, technology_amount_fen, NULL,
        :registrar_subject, NULL, :now, false
    FROM registered
)
SELECT registered.*, (SELECT last_serial FROM serial) AS serial FROM (SELECT 1) AS one LEFT JOIN registered ON true
"""  # noqa: S608
    )
    .bindparams(
        sa.bindparam("contract_id", type_=sa.Uuid()),
        sa.bindparam("office_id", type_=sa.Uuid()),
        sa.bindparam("technology_amount_fen", type_=sa.BigInteger()),
        sa.bindparam("year", type_=sa.Integer()),
        sa.bindparam("registered_on", type_=sa.Date()),
        sa.bindparam("period", type_=sa.Integer()),
        sa.bindparam("now", type_=UTCDateTime()),
        sa.bindparam("registrar_subject", type_=sa.String()),
        sa.bindparam("request_id", type_=sa.String()),
        sa.bindparam("event_id", type_=sa.Uuid()),
        sa.bindparam("delta_id", type_=sa.Uuid()),
        sa.bindparam("entity_kind", type_=sa.String()),
    )
    .columns(*contracts_table.c, sa.column("serial", sa.Integer()))
)


class Visibility:
    """Who may see which contracts, as an SQL condition (deny by default)."""

    def __init__(
        self,
        *,
        everything: bool = False,
        org_id: uuid.UUID | None = None,
        office_id: uuid.UUID | None = None,
        broker_subtree: str | None = None,
    ) -> None:
        self.everything = everything
        self.org_id = org_id
        self.office_id = office_id
        self.broker_subtree = broker_subtree

    def condition(self) -> sa.ColumnElement[bool]:
        """The WHERE condition selecting the visible contracts."""
        if self.everything:
            return sa.true()
        c = contracts_table.c
        parts: list[sa.ColumnElement[bool]] = []
        if self.org_id is not None:
            parts += [
                c.seller_org_id == self.org_id,
                c.buyer_org_id == self.org_id,
                c.broker_org_id == self.org_id,
                c.submitter_org_id == self.org_id,
            ]
        if self.office_id is not None:
            parts.append(c.office_id == self.office_id)
        if self.broker_subtree is not None:
            parts.append(c.broker_org_path.startswith(self.broker_subtree, autoescape=True))
        return sa.or_(*parts) if parts else sa.false()


class ContractRepository:
    """Contract SQL on one session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> ContractRepository:
        """The repository of ``session``."""
        return cls(session)

    @property
    def dialect(self) -> str:
        """postgresql or sqlite."""
        return self.session.get_bind().dialect.name

    def _insert(self, table: sa.Table) -> Any:
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    # -- contracts ---------------------------------------------------------------------------------------------

    async def submitted_from_deals(
        self, *, broker_path: str, since: dt.datetime, until: dt.datetime
    ) -> list[tuple[str, dt.datetime]]:
        """(broker org path, submitted at) of contracts concluding a proposal brokered by ``broker_path`` or below it,
        first submitted in [since, until)."""
        c = contracts_table.c
        query = sa.select(c.broker_org_path, c.created_at).where(
            c.proposal_id.is_not(None),
            c.broker_org_path.like(broker_path + "%"),
            c.created_at >= since,
            c.created_at < until,
        )
        return [(row[0], row[1]) for row in (await self.session.execute(query)).all()]

    async def insert(self, values: Mapping[str, Any]) -> None:
        """Insert one contract."""
        await self.session.execute(sa.insert(contracts_table).values(dict(values)))

    async def bulk_insert(
        self,
        table: sa.Table,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        same: Mapping[str, Any],
    ) -> None:
        """Insert many rows of ``table`` as fast as the backend takes them, in the session's transaction.

        ``rows`` are value tuples in ``columns`` order; ``same`` holds the columns every row shares. The values go
        through the columns' own bind processors (so they are stored exactly as an ORM insert stores them), but the
        shared ones only once and without SQLAlchemy's per-row statement machinery: PostgreSQL gets them by COPY
        on the session's connection, SQLite as one executemany.
        """
        if not rows:
            return
        connection = await self.session.connection()
        dialect = connection.dialect

        def processor(name: str) -> Any:
            column_type = table.c[name].type
            return column_type.dialect_impl(dialect).bind_processor(dialect)

        names = [*columns, *same]
        fixed = tuple((p(v) if (p := processor(n)) else v) for n, v in same.items())
        converters = [(i, p) for i, n in enumerate(columns) if (p := processor(n)) is not None]
        records = []
        for row in rows:
            values = list(row)
            for i, convert in converters:
                values[i] = convert(values[i])
            records.append((*values, *fixed))
        if self.dialect == "postgresql":
            raw: Any = (await connection.get_raw_connection()).driver_connection
            if not raw.is_in_transaction():
                # The driver adapter opens the transaction with the first statement; COPY must run inside it.
                await connection.execute(sa.text("SELECT 1"))
            try:
                await raw.copy_records_to_table(table.name, records=records, columns=names)
            except asyncpg.IntegrityConstraintViolationError as exc:
                # What an executemany would raise through SQLAlchemy, so callers handle one exception type.
                raise IntegrityError(f"COPY {table.name}", None, exc) from exc
            return
        placeholders = ", ".join("?" * len(names))
        sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({placeholders})"  # noqa: S608  (own column names)
        await connection.exec_driver_sql(sql, records)

    async def get(self, contract_id: uuid.UUID, *, visibility: Visibility | None = None) -> Row | None:
        """One contract, if it exists (and is visible when ``visibility`` is given)."""
        stmt = sa.select(contracts_table).where(contracts_table.c.id == contract_id)
        if visibility is not None:
            stmt = stmt.where(visibility.condition())
        return (await self.session.execute(stmt)).mappings().first()

    async def id_by_dedupe_key(self, key: str) -> uuid.UUID | None:
        """The contract with this duplicate key, if any."""
        stmt = sa.select(contracts_table.c.id).where(contracts_table.c.dedupe_key == key)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def ids_by_dedupe_keys(self, keys: Sequence[str]) -> dict[str, uuid.UUID]:
        """Existing contracts among ``keys``."""
        if not keys:
            return {}
        c = contracts_table.c
        result = await self.session.execute(sa.select(c.dedupe_key, c.id).where(self._among(c.dedupe_key, keys)))
        return {str(k): i for k, i in result.all()}

    async def existing_registration_nos(self, numbers: Sequence[str]) -> set[str]:
        """Registration numbers already taken among ``numbers``."""
        if not numbers:
            return set()
        c = contracts_table.c
        result = await self.session.execute(sa.select(c.registration_no).where(self._among(c.registration_no, numbers)))
        return {n for (n,) in result.all()}

    def _among(self, column: sa.ColumnElement[str], values: Sequence[str]) -> sa.ColumnElement[bool]:
        # One parameter (a PostgreSQL array, a JSON array for SQLite's json_each) instead of an IN list of
        # thousands of parameters, which the import's batches made slow to render, bind and plan.
        if self.dialect == "postgresql":
            return column == sa.any_(sa.bindparam("values", list(values), type_=postgresql.ARRAY(sa.String)))
        each = sa.func.json_each(sa.bindparam("values", json.dumps(list(values)))).table_valued("value")
        return column.in_(sa.select(each.c.value))

    async def transition(
        self, contract_id: uuid.UUID, *, from_statuses: Sequence[str], values: Mapping[str, Any]
    ) -> bool:
        """Change a contract only if it is still in one of ``from_statuses`` (atomic against concurrent changes)."""
        c = contracts_table.c
        stmt = (
            sa.update(contracts_table)
            .where(c.id == contract_id, c.status.in_(list(from_statuses)))
            .values({**values, "version": c.version + 1})
        )
        result = await self.session.execute(stmt)
        return bool(getattr(result, "rowcount", 0))

    async def update_if_version(self, contract_id: uuid.UUID, *, version: int, values: Mapping[str, Any]) -> bool:
        """Change a contract only if its version is still ``version`` (If-Match)."""
        c = contracts_table.c
        stmt = (
            sa.update(contracts_table)
            .where(c.id == contract_id, c.version == version, c.status.in_(["submitted", "rejected"]))
            .values({**values, "version": c.version + 1})
        )
        result = await self.session.execute(stmt)
        return bool(getattr(result, "rowcount", 0))

    async def list_visible(
        self,
        *,
        visibility: Visibility,
        status: str | None,
        office_id: uuid.UUID | None,
        submitted_before: dt.datetime | None,
        not_overdue_since: dt.datetime | None,
        after_id: uuid.UUID | None,
        limit: int,
    ) -> list[Row]:
        """Visible contracts in id (submission) order, after a keyset cursor."""
        c = contracts_table.c
        stmt = sa.select(contracts_table).where(visibility.condition())
        if status is not None:
            stmt = stmt.where(c.status == status)
        if office_id is not None:
            stmt = stmt.where(c.office_id == office_id)
        if submitted_before is not None:
            stmt = stmt.where(c.submitted_at < submitted_before)
        if not_overdue_since is not None:
            stmt = stmt.where(sa.or_(c.status != "submitted", c.submitted_at >= not_overdue_since))
        if after_id is not None:
            stmt = stmt.where(c.id > after_id)
        stmt = stmt.order_by(c.id).limit(limit)
        return list((await self.session.execute(stmt)).mappings().all())

    # -- deltas --------------------------------------------------------------------------------------

    async def insert_deltas(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append statistical deltas."""
        if rows:
            await self.session.execute(sa.insert(deltas_table), [dict(r) for r in rows])

    async def current_amounts(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[int, int, int]]:
        """Sum of the deltas of each contract: (count, contract amount, technology amount)."""
        if not ids:
            return {}
        d = deltas_table.c
        stmt = (
            sa.select(
                d.contract_id,
                sa.func.sum(d.count_delta),
                sa.func.sum(d.contract_amount_delta_fen),
                sa.func.sum(d.technology_amount_delta_fen),
            )
            .where(d.contract_id.in_(list(ids)))
            .group_by(d.contract_id)
        )
        result = await self.session.execute(stmt)
        return {cid: (int(n), int(a), int(t)) for cid, n, a, t in result.all()}

    # -- numbering ----------------------------------------------------------------------------------------------

    async def next_serials(self, office_id: uuid.UUID, year: int, count: int = 1) -> int:
        """Reserve ``count`` serials of an office's year; returns the last one (row-locked until commit)."""
        k = counters_table.c
        stmt = (
            self._insert(counters_table)
            .values(office_id=office_id, year=year, last_serial=count)
            .on_conflict_do_update(index_elements=["office_id", "year"], set_={"last_serial": k.last_serial + count})
            .returning(k.last_serial)
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def register(self, registration: Registration) -> RegistrationOutcome:
        """Check and register a submitted contract: its status and amount, its number, its audit row, its delta.

        The conditions: the contract is still submitted at the registrar's office and the confirmed technology
        amount does not exceed the contract amount. When one fails nothing changes and the outcome has no row
        (the caller finds out which one). PostgreSQL does it in one autocommitted statement (see
        ``_register_at_once``); SQLite, whose writers BEGIN IMMEDIATE serializes, step by step in the session's
        transaction.
        """
        if self.dialect == "postgresql":
            return await self._register_at_once(registration)
        return await self._register_in_steps(registration)

    async def _register_in_steps(self, registration: Registration) -> RegistrationOutcome:
        """SQLite: the statements of ``_REGISTER_AT_ONCE`` one by one, in the request's transaction."""
        c = contracts_table.c
        target = (
            await self.session.execute(
                sa.select(c.contract_amount_fen, c.claimed_technology_amount_fen, offices_table.c.region_code)
                .join_from(contracts_table, offices_table, offices_table.c.id == c.office_id)
                .where(
                    c.id == registration.contract_id,
                    c.office_id == registration.office_id,
                    c.status == "submitted",
                )
            )
        ).first()
        if target is None:
            return RegistrationOutcome(row=None, serial=None)
        contract_fen, claimed_fen, region = target
        technology = claimed_fen if registration.technology_amount_fen is None else registration.technology_amount_fen
        if technology > contract_fen:
            return RegistrationOutcome(row=None, serial=None)
        year = registration.registered_on.year
        serial = await self.next_serials(registration.office_id, year)
        if serial > MAX_SERIAL:
            return RegistrationOutcome(row=None, serial=serial)
        now = registration.now
        register = (
            sa.update(contracts_table)
            .where(c.id == registration.contract_id)
            .values(
                status="registered",
                technology_amount_fen=technology,
                registered_on=registration.registered_on,
                registered_at=now,
                registrar_subject=registration.registrar_subject,
                updated_at=now,
                version=c.version + 2,
                registration_no=registration_no(year, region, serial),
            )
            .returning(*contracts_table.c)
        )
        registered = (await self.session.execute(register)).mappings().one()
        await self._registration_records(registration, contract_fen=contract_fen, technology_fen=technology)
        return RegistrationOutcome(row=registered, serial=serial)

    async def _registration_records(
        self, registration: Registration, *, contract_fen: int, technology_fen: int
    ) -> None:
        """SQLite: the registration's audit row and its unfolded delta (the ``event`` and ``delta`` steps)."""
        await self.session.execute(
            sa.insert(_AUDIT_TABLE).values(
                id=registration.event_id,
                entity_kind=AUDIT_ENTITY_KIND,
                entity_id=registration.contract_id,
                action="register",
                from_status="submitted",
                to_status="registered",
                actor_subject=registration.registrar_subject,
                actor_org_id=registration.office_id,
                request_id=registration.request_id,
                occurred_at=registration.now,
                details={"technology_amount_fen": technology_fen},
            )
        )
        await self.insert_deltas(
            [
                delta_row(
                    id=registration.delta_id,
                    contract_id=registration.contract_id,
                    action="register",
                    effective_on=registration.registered_on,
                    count=1,
                    contract_amount_fen=contract_fen,
                    technology_amount_fen=technology_fen,
                    reason=None,
                    actor_subject=registration.registrar_subject,
                    created_at=registration.now,
                )
            ]
        )

    async def _register_at_once(self, registration: Registration) -> RegistrationOutcome:
        """PostgreSQL: check and register a submitted contract in ONE autocommitted statement.

        Gap-free numbering needs the office's counter row locked from its increment to the commit, and every
        registration at a busy office queues on that lock. In a request transaction the lock would also span the
        round trip back to the application and the COMMIT — under load, the event loop's latency — so the whole
        registration (checks, count, number, audit row, unfolded delta) is one statement on an autocommit
        connection: the lock is held for the statement alone, and the request needs one round trip. The
        statement is atomic; when a condition fails it changes nothing and the caller finds out which one.
        """
        engine = self.session.bind
        assert isinstance(engine, AsyncEngine)
        async with statement_connection(engine) as autocommit:
            row = (await autocommit.execute(_REGISTER_AT_ONCE, registration.params())).mappings().one()
        serial = row["serial"]
        return RegistrationOutcome(row=row if row["id"] is not None else None, serial=serial)

    async def set_counters(self, values: Mapping[tuple[uuid.UUID, int], int]) -> None:
        """Write counters back (rows already locked by this transaction)."""
        if values:
            k = counters_table.c
            stmt = (
                sa.update(counters_table)
                .where(k.office_id == sa.bindparam("o"), k.year == sa.bindparam("y"))
                .values(last_serial=sa.bindparam("s"))
            )
            await self.session.execute(stmt, [{"o": o, "y": y, "s": v} for (o, y), v in sorted(values.items())])

    async def raise_counter(self, office_id: uuid.UUID, year: int, serial: int) -> None:
        """Make sure later serials of an office's year come after an imported ``serial``."""
        k = counters_table.c
        stmt = self._insert(counters_table).values(office_id=office_id, year=year, last_serial=serial)
        stmt = stmt.on_conflict_do_update(
            index_elements=["office_id", "year"],
            set_={"last_serial": sa.case((k.last_serial < serial, serial), else_=k.last_serial)},
        )
        await self.session.execute(stmt)

    # -- imports -------------------------------------------------------------------------------------------------

    async def insert_import(self, values: Mapping[str, Any]) -> None:
        """Record a bulk import."""
        await self.session.execute(sa.insert(imports_table).values(dict(values)))

    async def finish_import(self, import_id: uuid.UUID, values: Mapping[str, Any]) -> None:
        """Store the counts of a bulk import."""
        stmt = sa.update(imports_table).where(imports_table.c.id == import_id).values(dict(values))
        await self.session.execute(stmt)
