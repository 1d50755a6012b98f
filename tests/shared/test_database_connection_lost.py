"""A request whose database connection is lost (PostgreSQL restarted, failed over) answers 503 with Retry-After,
not 500: nothing was committed and the client's retry gets a fresh connection (the fault suite, tests/faults, shows
it against a real restart). A failed call to another service is not mistaken for it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError, InterfaceError

from shared.errors import install_error_handlers
from shared.middleware import RequestContextMiddleware
from tests.support.problems import assert_problem


class ConnectionDoesNotExistError(Exception):
    """Named as asyncpg's "connection was closed in the middle of operation"."""


def _app(*, behind_request_context: bool) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    if behind_request_context:
        # As in every service app (shared.service): this outermost middleware answers unhandled errors itself.
        app.add_middleware(RequestContextMiddleware)

    @app.get("/invalidated")
    async def invalidated() -> None:
        raise InterfaceError("SELECT 1", {}, ConnectionDoesNotExistError("closed"), connection_invalidated=True)

    @app.get("/refused")
    async def refused() -> None:
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")

    @app.get("/asyncpg-closed")
    async def asyncpg_closed() -> None:
        try:
            raise ConnectionDoesNotExistError("connection was closed in the middle of operation")
        except ConnectionDoesNotExistError as exc:
            raise RuntimeError("while committing") from exc

    @app.get("/pgbouncer-login-failing")
    async def pgbouncer_login_failing() -> None:
        # What PgBouncer answers (SQLSTATE 08P01) while the PostgreSQL behind it is down, as SQLAlchemy raises it.
        cause = asyncpg.exceptions.ProtocolViolationError("server login has been failing, try again later")
        raise DBAPIError("BEGIN", {}, cause, connection_invalidated=False) from cause

    @app.get("/other-service")
    async def other_service() -> None:
        try:
            raise ConnectionRefusedError(111, "refused")
        except ConnectionRefusedError as exc:
            raise httpx.ConnectError("search is down") from exc

    @app.get("/statement-error")
    async def statement_error() -> None:
        raise DBAPIError("SELECT nope", {}, ValueError("syntax"), connection_invalidated=False)

    @app.get("/constraint-error")
    async def constraint_error() -> None:
        cause = asyncpg.exceptions.UniqueViolationError("duplicate key value violates unique constraint")
        raise DBAPIError("INSERT", {}, cause, connection_invalidated=False) from cause

    return app


@pytest.fixture(params=[True, False], ids=["service-app", "bare-handlers"])
async def client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(behind_request_context=request.param), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.mark.parametrize("path", ["/invalidated", "/refused", "/asyncpg-closed", "/pgbouncer-login-failing"])
async def test_a_lost_database_connection_is_503_with_retry_after(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    body = assert_problem(response, 503)
    assert body["type"] == "urn:techmarket:problem:not-ready"
    assert response.headers["retry-after"] == "1"


@pytest.mark.parametrize("path", ["/other-service", "/statement-error", "/constraint-error"])
async def test_other_failures_stay_500(client: httpx.AsyncClient, path: str) -> None:
    assert_problem(await client.get(path), 500)
