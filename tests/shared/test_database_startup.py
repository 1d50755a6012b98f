"""A process that starts while its database is unreachable (PostgreSQL restarting, failing over) waits for it,
within DATABASE_STARTUP_WAIT_SECONDS, instead of failing its startup: uvicorn's supervisor takes a failed worker
startup for a broken app and stops every worker (the fault suite, tests/faults, shows a worker replaced while
PostgreSQL is down). Anything else, a bug, still fails the startup at once.

The PostgreSQL test needs TEST_POSTGRES_URL; with REQUIRE_POSTGRES=1 (CI) a missing one fails instead of skipping.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from services.auth.app import SPEC as AUTH_SPEC
from shared.db import while_database_starts
from shared.service import ServiceSpec, build_service_app
from shared.settings import ServiceSettings
from tests.support.databases import postgres_url_from_env
from tests.support.net import free_port

POSTGRES_URL = postgres_url_from_env()


class _Steps:
    """A startup step that fails with ``errors`` in turn, then returns how many times it was called."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> int:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.calls


async def test_a_refused_database_is_waited_for() -> None:
    refused = ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
    step = _Steps(refused, refused)
    assert await while_database_starts(step, wait_seconds=10, what="test") == 3


async def test_a_bug_fails_the_startup_at_once() -> None:
    step = _Steps(ValueError("a migration is broken"))
    with pytest.raises(ValueError, match="broken"):
        await while_database_starts(step, wait_seconds=10, what="test")
    assert step.calls == 1


async def test_a_database_still_down_at_the_deadline_fails_the_startup() -> None:
    refused = ConnectionRefusedError(111, "refused")
    step = _Steps(*[refused] * 100)
    started = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        await while_database_starts(step, wait_seconds=1.0, what="test")
    assert time.monotonic() - started < 3.0
    assert 2 <= step.calls < 100


async def test_no_wait_means_one_attempt() -> None:
    step = _Steps(ConnectionRefusedError(111, "refused"))
    with pytest.raises(ConnectionRefusedError):
        await while_database_starts(step, wait_seconds=0, what="test")
    assert step.calls == 1


@contextlib.asynccontextmanager
async def _forwarder(port: int, target_host: str, target_port: int) -> AsyncIterator[None]:
    """A TCP port that forwards to PostgreSQL: the database "comes back" when this starts listening."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection(target_host, target_port)
        await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    try:
        yield
    finally:
        server.close()


async def test_a_service_started_while_postgres_is_unreachable_starts_once_it_answers() -> None:
    if POSTGRES_URL is None:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail("REQUIRE_POSTGRES=1 but TEST_POSTGRES_URL is not set")
        pytest.skip("TEST_POSTGRES_URL is not set")
    server = make_url(POSTGRES_URL)
    name = f"tmt_startup_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server.set(drivername="postgresql").render_as_string(hide_password=False))
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        port = free_port()  # nothing listens here yet: every connection is refused
        url = server.set(host="127.0.0.1", port=port, database=name).render_as_string(hide_password=False)
        spec = ServiceSpec(
            name="auth", title="startup", description="startup", migrations=AUTH_SPEC.migrations, routers=[]
        )
        app = build_service_app(spec, ServiceSettings(database_url=url, database_startup_wait_seconds=30))
        async with contextlib.AsyncExitStack() as stack:
            startup = asyncio.create_task(stack.enter_async_context(app.router.lifespan_context(app)))
            await asyncio.sleep(1.5)
            assert not startup.done(), "the startup waits for the database instead of failing"
            await stack.enter_async_context(_forwarder(port, server.host or "127.0.0.1", server.port or 5432))
            await asyncio.wait_for(startup, timeout=20)
            # Migrated once it answered, and ready.
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
                ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
        migrated = await asyncpg.connect(
            server.set(drivername="postgresql", database=name).render_as_string(hide_password=False)
        )
        try:
            assert await migrated.fetchval("SELECT version_num FROM alembic_version_auth")
        finally:
            await migrated.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
