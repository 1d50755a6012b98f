"""The domain-neutral market modules: idempotency keys, audit trail, ETag helpers, reference registry.

They are exercised here through a tiny router mounted on a real market app and database; the one thing faked is
the auth service's token verification (FakeVerifier), since these tests are about the market modules.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select, update

from services.market.app import SPEC as MARKET_SPEC
from services.market.audit import service as audit_service
from services.market.audit.models import AuditEvent
from services.market.audit.schemas import AuditEventPublic
from services.market.concurrency import etag_for, require_if_match
from services.market.idempotency import IdempotencyDep, StoredResponse, purge_expired
from services.market.idempotency.models import IdempotencyRecord
from services.market.reference import service as reference_service
from services.market.reference.codes import TransferMode, labels_zh
from services.market.reference.registry import ReferenceTable, code_table, index
from services.market.reference.tables import TABLES
from services.market.settings import MarketSettings
from shared.db import SessionDep
from shared.errors import PreconditionFailed, PreconditionRequired
from shared.ids import new_id
from shared.pagination import Page
from shared.security import CurrentPrincipal, Principal, TokenInvalid
from shared.service import ServiceSpec, build_service_app
from tests.conftest import Databases
from tests.support.problems import assert_problem


class FakeVerifier:
    """Stands in for the auth service's JWKS verification: the bearer token is the subject itself."""

    async def verify(self, token: str) -> Principal:
        if not token.startswith("user-"):
            raise TokenInvalid("not a fake token")
        return Principal(subject=token, token_id=token, org_id=uuid.UUID(int=1), roles=frozenset({"member"}))


class ThingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str


router = APIRouter()


@router.post("/things", status_code=201)
async def create_thing(
    payload: ThingIn, session: SessionDep, principal: CurrentPrincipal, idempotency: IdempotencyDep
) -> JSONResponse:
    async def run() -> StoredResponse:
        thing_id = new_id()
        await audit_service.record(
            session=session,
            entity_kind="thing",
            entity_id=thing_id,
            action="created",
            from_status=None,
            to_status="new",
            actor=principal,
            details={"note": payload.note},
        )
        return StoredResponse(201, {"id": str(thing_id), "note": payload.note}, {"Location": f"/things/{thing_id}"})

    return await idempotency.replay_or_run(session, run)


@router.get("/things/{thing_id}/history")
async def thing_history(
    thing_id: uuid.UUID, session: SessionDep, limit: int = 50, cursor: str | None = None
) -> Page[AuditEventPublic]:
    return await audit_service.history(
        session=session, entity_kind="thing", entity_id=thing_id, limit=limit, cursor=cursor
    )


@pytest.fixture
async def app(databases: Databases, tmp_path: Path) -> AsyncIterator[FastAPI]:
    spec = ServiceSpec(
        name="market", title="modules test", description="", migrations=MARKET_SPEC.migrations, routers=[router]
    )
    settings = MarketSettings(environment="test", data_dir=tmp_path, database_url=databases.urls["market"])
    built = build_service_app(spec, settings)
    async with LifespanManager(built):
        built.state.token_verifier = FakeVerifier()
        yield built


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        yield http


def as_user(name: str, key: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer user-{name}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


async def audit_count(app: FastAPI) -> int:
    async with app.state.sessionmaker() as session:
        return int((await session.execute(select(func.count()).select_from(AuditEvent))).scalar_one())


class TestIdempotencyKey:
    async def test_without_key_every_post_runs(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        first = await client.post("/things", json={"note": "a"}, headers=as_user("ann"))
        second = await client.post("/things", json={"note": "a"}, headers=as_user("ann"))
        assert first.status_code == second.status_code == 201
        assert first.json()["id"] != second.json()["id"]
        assert await audit_count(app) == 2

    async def test_retry_returns_first_response_and_runs_once(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        first = await client.post("/things", json={"note": "a"}, headers=as_user("ann", "k-1"))
        # Same JSON value, different spacing: still the same request.
        retry = await client.post(
            "/things",
            content=b'{ "note" : "a" }',
            headers={**as_user("ann", "k-1"), "content-type": "application/json"},
        )
        assert first.status_code == retry.status_code == 201
        assert retry.json() == first.json()
        assert retry.headers["location"] == first.headers["location"]
        assert retry.headers["idempotent-replayed"] == "true"
        assert "idempotent-replayed" not in first.headers
        assert await audit_count(app) == 1

    async def test_same_key_other_body_is_422_and_stores_nothing(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        await client.post("/things", json={"note": "a"}, headers=as_user("ann", "k-1"))
        response = await client.post("/things", json={"note": "b"}, headers=as_user("ann", "k-1"))
        body = assert_problem(response, 422)
        assert body["type"] == "urn:techmarket:problem:idempotency-key-reused"
        assert body["errors"][0]["field"] == "Idempotency-Key"
        assert await audit_count(app) == 1

    async def test_keys_are_scoped_to_the_caller(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        ann = await client.post("/things", json={"note": "a"}, headers=as_user("ann", "shared"))
        bob = await client.post("/things", json={"note": "b"}, headers=as_user("bob", "shared"))
        assert ann.status_code == bob.status_code == 201
        assert ann.json()["id"] != bob.json()["id"]
        assert await audit_count(app) == 2

    async def test_key_is_kept_24_hours_then_forgotten(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        before = dt.datetime.now(dt.UTC)
        await client.post("/things", json={"note": "a"}, headers=as_user("ann", "k-1"))
        async with app.state.sessionmaker() as session:
            record = (await session.execute(select(IdempotencyRecord))).scalar_one()
            assert record.expires_at - before >= dt.timedelta(hours=24)
            await session.execute(
                update(IdempotencyRecord).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
            )
            await session.commit()
        again = await client.post("/things", json={"note": "a"}, headers=as_user("ann", "k-1"))
        assert again.status_code == 201
        assert "idempotent-replayed" not in again.headers
        assert await audit_count(app) == 2

    async def test_purge_deletes_only_expired_keys(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        await client.post("/things", json={"note": "a"}, headers=as_user("ann", "old"))
        await client.post("/things", json={"note": "a"}, headers=as_user("ann", "new"))
        async with app.state.sessionmaker() as session:
            await session.execute(
                update(IdempotencyRecord)
                .where(IdempotencyRecord.key == "old")  # type: ignore[arg-type]
                .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
            )
            assert await purge_expired(session=session) == 1
            await session.commit()
            keys = (await session.execute(select(IdempotencyRecord.key))).scalars().all()
        assert keys == ["new"]

    @pytest.mark.parametrize("key", ["x" * 256, "键", "has space"])
    async def test_malformed_key_is_422(self, client: httpx.AsyncClient, app: FastAPI, key: str) -> None:
        response = await client.post(
            "/things", json={"note": "a"}, headers={"Authorization": "Bearer user-ann", "Idempotency-Key": key.encode()}
        )
        body = assert_problem(response, 422)
        assert body["errors"][0]["field"] == "Idempotency-Key"
        assert await audit_count(app) == 0

    async def test_needs_a_token(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/things", json={"note": "a"}, headers={"Idempotency-Key": "k"})
        assert_problem(response, 401)


class TestAuditHistory:
    async def test_records_actor_org_request_id_and_pages_oldest_first(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        created = await client.post("/things", json={"note": "a"}, headers={**as_user("ann"), "X-Request-ID": "req-42"})
        thing_id = uuid.UUID(created.json()["id"])
        async with app.state.sessionmaker() as session:
            for step in ("second", "third"):
                await audit_service.record(
                    session=session,
                    entity_kind="thing",
                    entity_id=thing_id,
                    action=step,
                    from_status="new",
                    to_status="new",
                    actor=None,
                )
            await session.commit()
        first = await client.get(f"/things/{thing_id}/history", params={"limit": 2})
        assert first.status_code == 200
        page = first.json()
        assert [e["action"] for e in page["items"]] == ["created", "second"]
        event = page["items"][0]
        assert event["actor_subject"] == "user-ann"
        assert event["actor_org_id"] == str(uuid.UUID(int=1))
        assert event["request_id"] == "req-42"
        assert event["from_status"] is None
        assert event["to_status"] == "new"
        assert event["details"] == {"note": "a"}
        rest = await client.get(f"/things/{thing_id}/history", params={"limit": 2, "cursor": page["next_cursor"]})
        assert [e["action"] for e in rest.json()["items"]] == ["third"]
        assert rest.json()["items"][0]["actor_subject"] == "system"
        assert rest.json()["next_cursor"] is None

    async def test_tampered_cursor_is_422(self, client: httpx.AsyncClient) -> None:
        response = await client.get(f"/things/{uuid.uuid4()}/history", params={"cursor": "WyJub3QtYS11dWlkIl0"})
        body = assert_problem(response, 422)
        assert body["errors"][0]["field"] == "cursor"


class TestEtagHelpers:
    def test_etag_changes_with_version(self) -> None:
        assert etag_for(1) == '"v1"'
        assert etag_for(1) != etag_for(2)

    def test_missing_if_match_is_428(self) -> None:
        with pytest.raises(PreconditionRequired):
            require_if_match(None, version=1)
        with pytest.raises(PreconditionRequired):
            require_if_match("  ", version=1)

    @pytest.mark.parametrize("header", ['"v1"', 'W/"v2"', '"v3", "v4"', "v2"])
    def test_stale_or_weak_tag_is_412(self, header: str) -> None:
        with pytest.raises(PreconditionFailed):
            require_if_match(header, version=2)

    @pytest.mark.parametrize("header", ['"v2"', '"v1", "v2"', "*"])
    def test_current_tag_or_star_passes(self, header: str) -> None:
        require_if_match(header, version=2)


class TestReferenceRegistry:
    def test_rejects_bad_names_duplicates_and_rows(self) -> None:
        with pytest.raises(ValueError, match="must match"):
            ReferenceTable("Bad-Name", "x", list)
        with pytest.raises(ValueError, match="declared twice"):
            index([*TABLES, ReferenceTable("technical_fields", "x", list)])
        table = ReferenceTable("test_broken_rows", "x", lambda: [{"code": 1, "label_zh": "x"}])
        with pytest.raises(ValueError, match="needs str code"):
            table.rows()

    def test_table_is_loaded_lazily_once(self) -> None:
        calls: list[int] = []

        def load() -> list[dict[str, Any]]:
            calls.append(1)
            return [{"code": "a", "label_zh": "甲"}]

        table = ReferenceTable("test_lazy", "x", load, version="2026")
        assert calls == []
        assert table.rows() == [{"code": "a", "label_zh": "甲"}]
        assert table.rows() == [{"code": "a", "label_zh": "甲"}]
        assert calls == [1]
        assert table.codes() == frozenset({"a"})

    def test_every_declared_table_is_served_and_the_index_is_read_only(self) -> None:
        assert reference_service.table_names() == sorted(t.name for t in TABLES)
        for table in TABLES:
            assert reference_service.get_table(table.name) is table
            assert table.rows(), table.name
        assert reference_service.get_table("no_such_table") is None
        with pytest.raises(TypeError):
            reference_service._TABLES["x"] = TABLES[0]  # type: ignore[index]

    def test_a_code_list_is_its_enum_and_its_labels(self) -> None:
        rows = code_table("x_modes", TransferMode, description="x").rows()
        assert [r["code"] for r in rows] == [m.value for m in TransferMode]
        assert rows[1] == {
            "code": "exclusive_license",
            "label_zh": "独占许可",
            "label_en": "Exclusive license",
            "order": 2,
        }
        assert TransferMode("equity") is TransferMode.EQUITY
        assert TransferMode.EQUITY == "equity"
        assert labels_zh(["transfer", "unknown"], TransferMode) == "转让、unknown"
