"""Fresh, migrated databases for each test, on SQLite and on PostgreSQL.

SQLite: each service is migrated once per session into a template file; a test gets copies.
PostgreSQL: each service is migrated once per session into its own database, emptied before each test (see
:class:`PostgresDatabases`). Parallel test runs on one server never see each other's data.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from services.auth.app import SPEC as AUTH_SPEC
from services.market.app import SPEC as MARKET_SPEC
from services.search.app import SPEC as SEARCH_SPEC
from shared.db import create_engine
from shared.migrations import upgrade_to_head
from shared.service import ServiceSpec

__all__ = ["SERVICE_SPECS", "PostgresDatabases", "SqliteDatabases", "postgres_url_from_env"]

SERVICE_SPECS: dict[str, ServiceSpec] = {"auth": AUTH_SPEC, "market": MARKET_SPEC, "search": SEARCH_SPEC}


def postgres_url_from_env() -> str | None:
    """TEST_POSTGRES_URL as an asyncpg SQLAlchemy URL, or None."""
    raw = os.environ.get("TEST_POSTGRES_URL")
    if not raw:
        return None
    url = make_url(raw)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+asyncpg")
    return url.render_as_string(hide_password=False)


async def _migrate(url: str, service: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade_to_head(engine, SERVICE_SPECS[service].migrations, f"alembic_version_{service}")
    finally:
        await engine.dispose()


class SqliteDatabases:
    """Migrated SQLite template files, copied per test."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._templates: dict[str, Path] = {}

    async def fresh(self, service: str, directory: Path) -> str:
        """A new migrated database of ``service`` in ``directory``; returns its URL."""
        if service not in self._templates:
            template = self.root / f"template-{service}.db"
            await _migrate(f"sqlite+aiosqlite:///{template}", service)
            self._templates[service] = template
        target = directory / f"{service}.db"
        shutil.copyfile(self._templates[service], target)
        return f"sqlite+aiosqlite:///{target}"


class PostgresDatabases:
    """One migrated PostgreSQL database per service for the whole run, emptied before each test.

    Emptying (TRUNCATE of every table, then restoring the rows the migrations seeded) is an order of magnitude
    cheaper than CREATE/DROP DATABASE, and leaves each test a database indistinguishable from a fresh one.
    Database names carry a per-run id, so parallel runs on one server never see each other's data.
    """

    def __init__(self, server_url: str) -> None:
        self.server_url = make_url(server_url)
        self.run_id = uuid.uuid4().hex[:8]
        self._databases: dict[str, str] = {}
        self._seeds: dict[str, dict[str, tuple[list[str], list[tuple[object, ...]]]]] = {}
        self._tables: dict[str, list[str]] = {}

    def _url(self, database: str) -> str:
        return self.server_url.set(database=database).render_as_string(hide_password=False)

    async def _connect(self, database: str) -> asyncpg.Connection:
        url = self.server_url
        return await asyncpg.connect(
            host=url.host or "127.0.0.1",
            port=url.port or 5432,
            user=url.username or "postgres",
            password=url.password,
            database=database,
        )

    async def check(self) -> None:
        """Raise if the server cannot be reached."""
        conn = await self._connect("postgres")
        await conn.close()

    async def fresh(self, service: str) -> str:
        """The run's database of ``service``, migrated and holding only what the migrations seeded."""
        if service not in self._databases:
            name = f"tmt_{self.run_id}_{service}"
            admin = await self._connect("postgres")
            try:
                await admin.execute(f'CREATE DATABASE "{name}"')
            finally:
                await admin.close()
            self._databases[service] = name
            await _migrate(self._url(name), service)
            await self._capture(service)
            return self._url(name)
        await self._reset(service)
        return self._url(self._databases[service])

    async def _capture(self, service: str) -> None:
        conn = await self._connect(self._databases[service])
        try:
            tables = [
                r["tablename"]
                for r in await conn.fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'alembic_version%'"
                )
            ]
            self._tables[service] = tables
            seeds: dict[str, tuple[list[str], list[tuple[object, ...]]]] = {}
            for table in tables:
                rows = await conn.fetch(f'SELECT * FROM "{table}"')
                if rows:
                    seeds[table] = (list(rows[0].keys()), [tuple(r.values()) for r in rows])
            self._seeds[service] = seeds
        finally:
            await conn.close()

    async def _reset(self, service: str) -> None:
        name = self._databases[service]
        conn = await self._connect(name)
        try:
            # A connection the previous test leaked would block TRUNCATE: end them first.
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
            tables = self._tables[service]
            if tables:
                quoted = ", ".join(f'"{t}"' for t in tables)
                await conn.execute(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")
            for table, (columns, rows) in self._seeds[service].items():
                await conn.copy_records_to_table(table, records=rows, columns=columns)
        finally:
            await conn.close()

    async def drop(self, url: str) -> None:
        """Nothing to do per test: the run's databases are emptied before reuse and dropped at the end."""

    async def drop_templates(self) -> None:
        """Drop the run's databases."""
        admin = await self._connect("postgres")
        try:
            for name in self._databases.values():
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
