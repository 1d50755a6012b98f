"""asyncpg through a real PgBouncer 1.18 in transaction mode: what breaks without ``?pooler=pgbouncer``, and that
with it many concurrent sessions share two server connections without a prepared-statement error.

Needs PostgreSQL (TEST_POSTGRES_URL) and the pgbouncer binary; with REQUIRE_POSTGRES=1 (CI, which installs
pgbouncer) a missing one fails instead of skipping.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from services.market.app import SPEC as MARKET_SPEC
from services.market.settings import MarketSettings
from shared.db import create_engine, create_sessionmaker, pooler_of, read_session, without_pooler
from shared.migrations import upgrade_to_head
from tests.support.databases import postgres_url_from_env
from tests.support.pgbouncer import PgBouncer, pgbouncer_binary, running_pgbouncer

POSTGRES_URL = postgres_url_from_env()
REQUIRE = os.environ.get("REQUIRE_POSTGRES") == "1"
SESSIONS = 40  # concurrent client sessions ...
SERVER_CONNECTIONS = 2  # ... over this many server connections


def _need(what: str) -> None:
    if REQUIRE:
        pytest.fail(f"REQUIRE_POSTGRES=1 but {what}")
    pytest.skip(what)


@pytest.fixture(scope="module")
def bouncer() -> Iterator[PgBouncer]:
    if POSTGRES_URL is None:
        _need("TEST_POSTGRES_URL is not set")
    if pgbouncer_binary() is None:
        _need("pgbouncer is not installed (apt-get install pgbouncer)")
    assert POSTGRES_URL is not None
    with running_pgbouncer(POSTGRES_URL, pool_size=SERVER_CONNECTIONS) as running:
        yield running


@pytest.fixture
async def database(bouncer: PgBouncer) -> AsyncIterator[str]:
    """A new empty database; yields its direct URL."""
    assert POSTGRES_URL is not None
    server = make_url(POSTGRES_URL)
    name = f"tmt_pgbouncer_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _workload(engine: AsyncEngine, *, rounds: int = 3) -> list[BaseException]:
    """SESSIONS concurrent sessions, each running a few transactions of several distinct statements."""
    sessionmaker = create_sessionmaker(engine)

    async def one(n: int) -> None:
        for r in range(rounds):
            async with sessionmaker() as session, session.begin():
                await session.execute(sa.text("INSERT INTO items (n, r) VALUES (:n, :r)"), {"n": n, "r": r})
                count = (await session.execute(sa.text("SELECT count(*) FROM items WHERE n = :n"), {"n": n})).scalar()
                assert count == r + 1
                total = (await session.execute(sa.text("SELECT sum(r) FROM items WHERE n = :n"), {"n": n})).scalar()
                assert total == sum(range(r + 1))

    results = await asyncio.gather(*(one(n) for n in range(SESSIONS)), return_exceptions=True)
    return [r for r in results if isinstance(r, BaseException)]


async def _create_items(direct_url: str) -> None:
    conn = await asyncpg.connect(without_pooler(make_url(direct_url).set(drivername="postgresql").render_as_string()))
    try:
        await conn.execute("CREATE TABLE items (n integer NOT NULL, r integer NOT NULL)")
    finally:
        await conn.close()


async def test_without_the_setting_prepared_statements_break(bouncer: PgBouncer, database: str) -> None:
    await _create_items(database)
    # Through the bouncer but without ?pooler=pgbouncer: asyncpg names statements __asyncpg_stmt_1__, 2, ... per
    # client connection and caches them, and those names meet on the two shared server connections.
    url = make_url(bouncer.url(database)).difference_update_query(["pooler"]).render_as_string(hide_password=False)
    engine = create_engine(url, pool_size=SESSIONS)
    try:
        errors: list[BaseException] = []
        for _ in range(5):  # concurrency makes the collision near certain; a few tries make it certain here
            errors += await _workload(engine)
            if errors:
                break
    finally:
        await engine.dispose()
    assert errors, "expected prepared-statement errors through transaction pooling without the setting"
    assert any("prepared statement" in str(e) for e in errors), [str(e)[:200] for e in errors]


async def test_with_the_setting_many_sessions_share_two_server_connections(bouncer: PgBouncer, database: str) -> None:
    await _create_items(database)
    url = bouncer.url(database)
    assert pooler_of(url) == "pgbouncer"
    engine = create_engine(url, pool_size=SESSIONS)
    try:
        assert await _workload(engine, rounds=5) == []
        # Everything committed exactly once, read back through the bouncer.
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.text("SELECT count(*), count(DISTINCT (n, r)) FROM items"))).one()
        assert tuple(rows) == (SESSIONS * 5, SESSIONS * 5)

        # The request read sessions (autocommit on a direct connection) run in a read-only transaction here,
        # concurrently, without "prepared statement ... does not exist".
        request: Any = SimpleNamespace(
            app=SimpleNamespace(state=SimpleNamespace(sessionmaker=create_sessionmaker(engine)))
        )

        async def read(n: int) -> int:
            async with read_session(request) as session:
                first = (await session.execute(sa.text("SELECT count(*) FROM items WHERE n = :n"), {"n": n})).scalar()
                second = (await session.execute(sa.text("SELECT max(r) FROM items WHERE n = :n"), {"n": n})).scalar()
                return int(first or 0) + int(second or 0)

        assert await asyncio.gather(*(read(n) for n in range(SESSIONS))) == [5 + 4] * SESSIONS
    finally:
        await engine.dispose()
    # Two server connections really were all the bouncer used.
    admin = await asyncpg.connect(make_url(database).set(drivername="postgresql").render_as_string())
    try:
        name = make_url(database).database
        backends = await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", name)
    finally:
        await admin.close()
    assert backends <= SERVER_CONNECTIONS + 1  # + this admin connection


async def test_migrations_run_through_the_bouncer(bouncer: PgBouncer, database: str) -> None:
    # One transaction, transaction-level locks only: alembic's upgrade works through transaction pooling.
    engine = create_engine(bouncer.url(database), pool_size=2)
    try:
        await upgrade_to_head(engine, MARKET_SPEC.migrations, "alembic_version_market")
        async with engine.connect() as conn:
            version = (await conn.execute(sa.text("SELECT count(*) FROM alembic_version_market"))).scalar()
        assert version is not None
        assert version >= 1
    finally:
        await engine.dispose()


def test_pooled_market_needs_a_direct_url_for_listen() -> None:
    pooled = "postgresql+asyncpg://postgres@127.0.0.1:6432/market?pooler=pgbouncer"
    with pytest.raises(ValueError, match="MARKET_BROADCAST_DATABASE_URL"):
        MarketSettings(database_url=pooled)
    with pytest.raises(ValueError, match="MARKET_BROADCAST_DATABASE_URL"):
        MarketSettings(database_url=pooled, broadcast_database_url=pooled)
    direct = "postgresql+asyncpg://postgres@127.0.0.1:5432/market"
    settings = MarketSettings(database_url=pooled, broadcast_database_url=direct)
    assert settings.resolved_broadcast_url == direct
    assert MarketSettings(database_url=direct).resolved_broadcast_url == direct


def test_pooler_option_is_checked_and_stripped() -> None:
    assert pooler_of("postgresql+asyncpg://u@h/db") is None
    assert pooler_of("sqlite+aiosqlite:///x.db") is None
    with pytest.raises(ValueError, match="pooler"):
        pooler_of("postgresql+asyncpg://u@h/db?pooler=pgpool")
    assert without_pooler("postgresql+asyncpg://u:p@h:6432/db?pooler=pgbouncer&ssl=require") == (
        "postgresql+asyncpg://u:p@h:6432/db?ssl=require"
    )
