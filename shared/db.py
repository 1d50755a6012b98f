"""Async engines and sessions for SQLite (embedded) and PostgreSQL (production), and the request session.

The request-scoped session dependency commits when the endpoint returns and rolls back when it raises;
services only flush. It runs with ``scope="function"`` so the commit happens before the response is sent: a
failed commit can never be reported to the client as a success.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy import DateTime, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.types import TypeDecorator

from shared.errors import ServiceUnavailable, database_connection_lost

__all__ = [
    "ReadSessionDep",
    "SessionDep",
    "SnapshotSessionDep",
    "UTCDateTime",
    "create_engine",
    "create_sessionmaker",
    "get_read_session",
    "get_session",
    "get_snapshot_session",
    "is_sqlite",
    "pooler_of",
    "read_session",
    "statement_connection",
    "while_database_starts",
    "without_pooler",
    "write_session",
]

# The URL query option naming a transaction-pooling proxy between us and PostgreSQL: ``?pooler=pgbouncer``.
POOLER_OPTION = "pooler"
POOLERS = ("pgbouncer",)
# Engine execution option recording it, so that sessions opened on the engine know (see _read_session).
_POOLER = "techmarket_pooler"


def is_sqlite(url_or_engine: str | AsyncEngine) -> bool:
    """Whether a URL or engine points at SQLite."""
    url = url_or_engine if isinstance(url_or_engine, str) else str(url_or_engine.url)
    return url.startswith("sqlite")


def pooler_of(url: str) -> str | None:
    """The transaction pooler a database URL says it goes through (``?pooler=pgbouncer``), or None."""
    if is_sqlite(url):
        return None
    value = make_url(url).query.get(POOLER_OPTION)
    if value is None:
        return None
    name = value if isinstance(value, str) else value[-1]
    if name not in POOLERS:
        raise ValueError(f"unknown {POOLER_OPTION}={name!r} in the database URL: use one of {', '.join(POOLERS)}")
    return name


def without_pooler(url: str) -> str:
    """``url`` without our ``pooler`` query option (which the driver would refuse as an unknown argument)."""
    if is_sqlite(url) or POOLER_OPTION not in make_url(url).query:
        return url
    return make_url(url).difference_update_query([POOLER_OPTION]).render_as_string(hide_password=False)


def _unique_statement_name() -> str:
    return f"__asyncpg_{uuid.uuid4().hex}__"


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    """An async engine tuned per backend.

    SQLite: WAL, foreign keys, a busy timeout, and ``BEGIN IMMEDIATE`` for every transaction, so that two
    writers queue on the lock instead of failing with "database is locked" when a read upgrades to a write.

    PostgreSQL behind PgBouncer in transaction mode (``?pooler=pgbouncer`` in the URL): PgBouncer 1.18 lends a
    server connection for one transaction only, so a statement prepared on one server connection may be executed
    on another. asyncpg's statement caches are turned off (a cached statement would be looked up on a server
    connection that never prepared it: 'prepared statement "__asyncpg_stmt_1__" does not exist'), every prepared
    statement gets a unique name (the default counter restarts on every client connection, so two clients sharing
    a server connection would collide: '... already exists'), and reads never run in autocommit (prepare and
    execute are then two round trips that may land on two server connections) — see SQLAlchemy's asyncpg
    dialect documentation, "Prepared Statement Name with PGBouncer".
    """
    if is_sqlite(url):
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Take transaction control away from the driver; we emit BEGIN IMMEDIATE ourselves below.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(connection: Any) -> None:
            # A read-only session (ReadSessionDep) begins deferred: in WAL mode it reads a snapshot without taking
            # the write lock, so readers neither queue behind writers nor hold them up.
            mode = connection.get_execution_options().get(_READ_ONLY)
            if mode == _ONE_STATEMENT:
                # A read-only session whose statements stand alone (ReadSessionDep): no BEGIN at all — the driver is
                # in autocommit mode, so each SELECT is its own snapshot, as PostgreSQL's AUTOCOMMIT below. Saves
                # the BEGIN's round trip to aiosqlite's thread (four hops: cursor, execute, fetch, close).
                return
            connection.exec_driver_sql("BEGIN" if mode else "BEGIN IMMEDIATE")

        return engine
    # No ping on checkout: with asyncpg a ping is three round trips (BEGIN, ";", ROLLBACK) — more than a whole
    # registration — on every request. A connection broken by a database restart fails the one request using it,
    # and SQLAlchemy then discards every connection made before the failure; pool_recycle bounds their age.
    pooler = pooler_of(url)
    connect_args: dict[str, Any] = {}
    if pooler is not None:
        connect_args = {
            "statement_cache_size": 0,  # asyncpg's own cache (its introspection queries)
            "prepared_statement_cache_size": 0,  # SQLAlchemy's adapter cache
            "prepared_statement_name_func": _unique_statement_name,
        }
    return create_async_engine(
        without_pooler(url),
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
        pool_recycle=1800,
        connect_args=connect_args,
        execution_options={_POOLER: pooler},
    )


@contextlib.asynccontextmanager
async def statement_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A PostgreSQL connection for self-contained statements, each its own transaction: autocommit.

    Behind a transaction pooler, a transaction committed on exit instead: in autocommit, asyncpg's prepare and
    execute are two round trips that PgBouncer may send to two different server connections.
    """
    if engine.get_execution_options().get(_POOLER):
        async with engine.begin() as connection:
            yield connection
    else:
        async with engine.connect() as connection:
            yield await connection.execution_options(isolation_level="AUTOCOMMIT")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def _sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    sessionmaker: async_sessionmaker[AsyncSession] | None = getattr(request.app.state, "sessionmaker", None)
    if sessionmaker is None:
        # Embedded, a request can reach a mounted service before its lifespan has opened the database (auth's
        # relay delivering to market at start-up): a 503 the caller retries, not a 500.
        raise ServiceUnavailable("the service is starting: retry in a moment", headers={"Retry-After": "1"})
    return sessionmaker


@contextlib.asynccontextmanager
async def write_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A read-write session opened on demand: committed when the block ends, rolled back when it raises.

    For a read endpoint that finds, now and then, that it must write first (a listing past its last day is recorded
    as expired before it is shown): the common case stays on a read-only session (no write lock on SQLite).
    """
    async with _sessionmaker(request)() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's session: commit on success, roll back on error. Use with ``Depends(..., scope="function")``."""
    async with write_session(request) as session:
        yield session


# The request's session; its commit runs when the endpoint function returns, before the response is sent.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

_READ_ONLY = "techmarket_read_only"
_ONE_STATEMENT = "one_statement"


@contextlib.asynccontextmanager
async def _read_session(request: Request, *, snapshot: bool) -> AsyncIterator[AsyncSession]:
    sessionmaker = _sessionmaker(request)
    async with sessionmaker() as session:
        bind: AsyncEngine = sessionmaker.kw["bind"]
        if is_sqlite(bind):
            options: dict[str, Any] = {_READ_ONLY: True if snapshot else _ONE_STATEMENT}
        elif snapshot:
            options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        elif bind.get_execution_options().get(_POOLER):
            # Behind a transaction pooler a statement outside a transaction may be prepared on one server
            # connection and executed on another: read in a (read-only) transaction instead of autocommit.
            options = {"postgresql_readonly": True}
        else:
            options = {"isolation_level": "AUTOCOMMIT"}
        await session.connection(execution_options=options)
        try:
            yield session
        finally:
            await session.rollback()  # nothing to keep: ending a read-only transaction either way is the same


def read_session(request: Request) -> contextlib.AbstractAsyncContextManager[AsyncSession]:
    """A read-only session opened on demand, for an endpoint that needs the database only on some requests."""
    return _read_session(request, snapshot=False)


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A read-only request session for endpoints that answer with ONE statement (its own consistent snapshot).

    PostgreSQL: autocommit — no BEGIN and ROLLBACK round trips around the statement. SQLite: no BEGIN either (the
    driver's autocommit: each statement reads its own WAL snapshot, without the write lock that BEGIN IMMEDIATE
    takes). Several statements are allowed when each stands alone (they may see different snapshots). Nothing may
    be written.
    """
    async with _read_session(request, snapshot=False) as session:
        yield session


async def get_snapshot_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A read-only request session in which every statement sees one snapshot (responses built from several).

    PostgreSQL: a REPEATABLE READ READ ONLY transaction. SQLite: a deferred BEGIN, as for ``get_read_session``.
    """
    async with _read_session(request, snapshot=True) as session:
        yield session


# Read-only sessions of GET endpoints that never write (statistics): one statement, or one snapshot for several.
ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="function")]
SnapshotSessionDep = Annotated[AsyncSession, Depends(get_snapshot_session, scope="function")]


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive; we re-attach UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


_T = TypeVar("_T")
logger = logging.getLogger("techmarket.database")


async def while_database_starts(step: Callable[[], Awaitable[_T]], *, wait_seconds: float, what: str) -> _T:
    """Run ``step`` (a startup step that needs the database), retrying it while the database refuses or drops the
    connection — PostgreSQL restarting or failing over — for at most ``wait_seconds`` in all; any other error, or the
    database still down at the deadline, is raised.

    Why: uvicorn's supervisor replaces a dead worker, but takes a worker whose startup fails for a broken app and
    stops every worker. Without the wait, a worker replaced during a database restart would take the whole service
    down with it."""
    deadline = time.monotonic() + wait_seconds
    delay = 0.2
    while True:
        try:
            return await step()
        except Exception as exc:
            if not database_connection_lost(exc) or time.monotonic() + delay > deadline:
                raise
            logger.warning(
                "database not reachable while starting: retrying",
                extra={"step": what, "error": type(exc).__name__, "retry_in_seconds": delay},
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
