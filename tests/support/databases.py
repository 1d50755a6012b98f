"""Fresh, migrated databases for each test, on SQLite and on PostgreSQL.

SQLite: each service is migrated once per session into a template file; a test gets copies.
PostgreSQL: each service is migrated once per session into a template database; a test gets
``CREATE DATABASE ... TEMPLATE`` copies with unique names, dropped afterwards. Parallel test runs on one server
never see each other's data.
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
    """Migrated PostgreSQL template databases, cloned per test and dropped after it."""

    def __init__(self, server_url: str) -> None:
        self.server_url = make_url(server_url)
        self.run_id = uuid.uuid4().hex[:8]
        self._templates: dict[str, str] = {}
        self._created: list[str] = []

    def _url(self, database: str) -> str:
        return self.server_url.set(database=database).render_as_string(hide_password=False)

    async def _admin(self) -> asyncpg.Connection:
        url = self.server_url
        return await asyncpg.connect(
            host=url.host or "127.0.0.1",
            port=url.port or 5432,
            user=url.username or "postgres",
            password=url.password,
            database="postgres",
        )

    async def check(self) -> None:
        """Raise if the server cannot be reached."""
        conn = await self._admin()
        await conn.close()

    async def fresh(self, service: str) -> str:
        """A new migrated database of ``service``; returns its URL."""
        conn = await self._admin()
        try:
            if service not in self._templates:
                template = f"tmt_{self.run_id}_{service}_template"
                await conn.execute(f'CREATE DATABASE "{template}"')
                self._templates[service] = template
                await _migrate(self._url(template), service)
            name = f"tmt_{self.run_id}_{service}_{uuid.uuid4().hex[:10]}"
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self._templates[service]}"')
            self._created.append(name)
        finally:
            await conn.close()
        return self._url(name)

    async def drop(self, url: str) -> None:
        """Drop one database made by :meth:`fresh`."""
        name = make_url(url).database
        conn = await self._admin()
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    async def drop_templates(self) -> None:
        """Drop the session's template databases."""
        conn = await self._admin()
        try:
            for name in self._templates.values():
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
