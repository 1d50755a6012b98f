"""The kernel every service is built on: problem+json for every kind of bad input, request ids, body limits."""

from __future__ import annotations

import enum
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from services.market.app import SPEC as MARKET_SPEC
from services.market.offices.models import offices_table
from services.market.settings import MarketSettings
from shared.clock import utcnow
from shared.db import SnapshotSessionDep
from shared.errors import Conflict, problem_responses
from shared.ids import new_id
from shared.service import ServiceSpec, build_service_app
from tests.conftest import Databases
from tests.support.problems import assert_problem


class Color(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount_fen: int = Field(ge=0)


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    color: Color
    inner: Inner


router = APIRouter()


@router.post("/echo", responses=problem_responses(409, 422))
async def echo(payload: Payload) -> Payload:
    return payload


@router.post("/import")
async def bulk(payload: dict[str, str]) -> dict[str, int]:
    return {"keys": len(payload)}


@router.get("/conflict")
async def conflict() -> None:
    raise Conflict("already there", extra={"existing_id": "abc"})


@router.get("/boom")
async def boom() -> None:
    raise RuntimeError("secret internals: password=hunter2")


_OFFICES = sa.text("SELECT count(*) FROM registration_offices")


@router.get("/snapshot")
async def snapshot(request: Request, session: SnapshotSessionDep) -> dict[str, int]:
    """Count, let another connection insert and commit, count again in the same read session."""
    before = int((await session.execute(_OFFICES)).scalar_one())
    async with request.app.state.engine.begin() as writer:  # must not wait for the reader
        await writer.execute(
            sa.insert(offices_table).values(
                id=new_id(),
                region_code="510100",
                region_prefix="5101",
                name="x",
                active=True,
                created_by="t",
                created_at=utcnow(),
            )
        )
    after = int((await session.execute(_OFFICES)).scalar_one())
    async with request.app.state.engine.connect() as fresh:
        committed = int((await fresh.execute(_OFFICES)).scalar_one())
    return {"before": before, "after": after, "committed": committed}


@pytest.fixture
async def client(databases: Databases, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    spec = ServiceSpec(
        name="market",
        title="kernel test",
        description="",
        migrations=MARKET_SPEC.migrations,
        routers=[router],
    )
    settings = MarketSettings(
        environment="test", data_dir=tmp_path, database_url=databases.urls["market"], max_body_bytes=2048
    )
    app = build_service_app(spec, settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


class TestReadSession:
    async def test_one_snapshot_that_does_not_hold_up_writers(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/snapshot")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["after"] == body["before"]  # the reader keeps its snapshot…
        assert body["committed"] == body["before"] + 1  # …while the writer committed meanwhile


class TestBadInput:
    async def test_valid_body_passes(self, client: httpx.AsyncClient) -> None:
        body = {"name": "x", "color": "red", "inner": {"amount_fen": 5}}
        response = await client.post("/echo", json=body)
        assert response.status_code == 200
        assert response.json() == body

    async def test_malformed_json_is_400(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/echo", content=b'{"name": ', headers={"content-type": "application/json"})
        body = assert_problem(response, 400, traced=True)
        assert body["type"] == "urn:techmarket:problem:malformed-json"

    async def test_wrong_content_type_is_4xx(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/echo", content=b"name=x", headers={"content-type": "text/plain"})
        assert 400 <= response.status_code < 500
        assert_problem(response, response.status_code, traced=True)

    async def test_wrong_type_names_the_nested_field(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/echo", json={"name": "x", "color": "red", "inner": {"amount_fen": "many"}})
        body = assert_problem(response, 422, traced=True)
        assert [e["field"] for e in body["errors"]] == ["inner.amount_fen"]  # type: ignore[union-attr]

    async def test_unknown_enum_value_names_the_field(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/echo", json={"name": "x", "color": "green", "inner": {"amount_fen": 1}})
        body = assert_problem(response, 422, traced=True)
        assert body["errors"][0]["field"] == "color"  # type: ignore[index]

    async def test_extra_field_is_refused(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/echo", json={"name": "x", "color": "red", "inner": {"amount_fen": 1}, "status": "published"}
        )
        body = assert_problem(response, 422, traced=True)
        assert body["errors"][0]["field"] == "status"  # type: ignore[index]

    async def test_oversized_body_is_413(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/echo", json={"name": "x" * 5000, "color": "red", "inner": {"amount_fen": 1}})
        assert_problem(response, 413, traced=True)

    async def test_oversized_streamed_body_is_413(self, client: httpx.AsyncClient) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b" " * 1000

        response = await client.post("/echo", content=chunks(), headers={"content-type": "application/json"})
        assert_problem(response, 413, traced=True)

    async def test_import_paths_take_larger_bodies(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/import", json={"k": "v" * 5000})
        assert response.status_code == 200

    async def test_unknown_path_and_method(self, client: httpx.AsyncClient) -> None:
        assert_problem(await client.get("/nowhere"), 404, traced=True)
        assert_problem(await client.delete("/echo"), 405, traced=True)


class TestErrors:
    async def test_domain_error_carries_extra_members(self, client: httpx.AsyncClient) -> None:
        body = assert_problem(await client.get("/conflict"), 409, traced=True)
        assert body["existing_id"] == "abc"
        assert body["detail"] == "already there"

    async def test_unhandled_error_is_500_without_internals(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/boom")
        body = assert_problem(response, 500, traced=True)
        assert "hunter2" not in response.text
        assert "Traceback" not in response.text
        assert body["type"] == "urn:techmarket:problem:internal-error"

    async def test_openapi_documents_the_problem_schema(self, client: httpx.AsyncClient) -> None:
        schema = (await client.get("/openapi.json")).json()
        assert "Problem" in schema["components"]["schemas"]
        responses = schema["paths"]["/echo"]["post"]["responses"]
        assert "application/problem+json" in responses["409"]["content"]


class TestRequestId:
    async def test_generated_when_absent(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/healthz")
        assert len(response.headers["x-request-id"]) >= 32

    async def test_echoed_when_safe(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
        assert response.headers["x-request-id"] == "abc-123"

    async def test_replaced_when_unsafe(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/healthz", headers={"X-Request-ID": "a b\tc" + "x" * 300})
        assert response.headers["x-request-id"] != "a b\tc" + "x" * 300


class TestHealth:
    async def test_healthz_and_readyz(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/healthz")).json() == {"status": "ok", "service": "market"}
        assert (await client.get("/readyz")).json() == {"status": "ready", "service": "market"}


def test_problem_body_is_json_serializable() -> None:
    from shared.errors import problem_response

    response = problem_response(None, status=404, slug="not-found", title="Not found")
    assert json.loads(response.body)["instance"] is None
