"""Outbox rows in the same transaction as every change, and the relay that delivers them to search.

The receiving side is a real HTTP endpoint: a tiny FastAPI app with the search ingestion contract
(POST /search/documents, body {"documents": [...]}) reached through httpx.ASGITransport. The relay's token
provider is a named fake (FakeTokens) except in the lifespan test, where the real ServiceTokenProvider fetches a
client_credentials token from the receiver's fake auth token endpoint.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select, update

from services.market.app import create_app as create_market_app
from services.market.listings import service as listings_service
from services.market.listings.kinds import ACHIEVEMENT
from services.market.listings.schemas import AchievementCreate
from services.market.outbox.models import OutboxEvent
from services.market.settings import MarketSettings
from shared.outbox.relay import Relay, ingestion_document
from shared.security import Principal
from tests.conftest import Databases, Stack
from tests.market.helpers import achievement_body, create_listing, demand_body, transition

RELAY_TOKEN = "relay-token"


class Receiver:
    """A search ingestion endpoint (and a client_credentials token endpoint) that records what it receives."""

    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.fail_next: list[int] = []  # status codes to answer before accepting again
        self.token_requests: list[dict[str, str]] = []
        self.app = FastAPI()

        @self.app.post("/search/documents")
        async def ingest(request: Request) -> JSONResponse:
            if request.headers.get("authorization") != f"Bearer {RELAY_TOKEN}":
                return JSONResponse({"detail": "bad token"}, status_code=401)
            if self.fail_next:
                return JSONResponse({"detail": "down"}, status_code=self.fail_next.pop(0))
            body = await request.json()
            assert set(body) == {"documents"}
            self.batches.append(body["documents"])
            return JSONResponse({"accepted": len(body["documents"])})

        @self.app.post("/auth/token")
        async def token(request: Request) -> JSONResponse:
            form = dict((await request.form()).items())
            self.token_requests.append(
                {**{k: str(v) for k, v in form.items()}, "authorization": request.headers.get("authorization", "")}
            )
            expected = "Basic " + base64.b64encode(b"market-relay:dev-insecure-market-relay").decode()
            if request.headers.get("authorization") != expected or form.get("grant_type") != "client_credentials":
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            return JSONResponse(
                {"access_token": RELAY_TOKEN, "token_type": "Bearer", "expires_in": 900, "scope": "search:ingest"}
            )

    @property
    def documents(self) -> list[dict[str, Any]]:
        return [d for batch in self.batches for d in batch]


class FakeTokens:
    """Stands in for the auth service's client_credentials flow."""

    def __init__(self, token: str = RELAY_TOKEN) -> None:
        self.token = token
        self.invalidated = 0

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def invalidate(self) -> None:
        self.invalidated += 1


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, httpx.AsyncClient]]:
    made = Receiver()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=made.app), base_url="http://receiver") as client:
        yield made, client


def make_relay(stack: Stack, client: httpx.AsyncClient, tokens: Any = None, **kwargs: Any) -> Relay[OutboxEvent]:
    return Relay(
        model=OutboxEvent,
        document_of=ingestion_document,
        sessionmaker=stack.service_app("market").state.sessionmaker,
        client=client,
        target_url="http://receiver/search/documents",
        tokens=tokens or FakeTokens(),
        **kwargs,
    )


async def outbox(stack: Stack) -> list[OutboxEvent]:
    async with stack.service_app("market").state.sessionmaker() as session:
        return list((await session.execute(select(OutboxEvent).order_by(OutboxEvent.seq))).scalars())  # type: ignore[arg-type]


class TestOutboxRows:
    async def test_every_change_writes_one_event_with_public_fields_only(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        listing = await create_listing(stack, uni)
        await stack.client.patch(
            f"/market/achievements/{listing['id']}", json={"trl": 7}, headers={**uni.headers, "If-Match": '"v1"'}
        )
        await transition(stack, uni, "achievements", listing["id"], "publish")
        await transition(stack, uni, "achievements", listing["id"], "withdraw")
        events = await outbox(stack)
        assert [(e.event_type, e.version, e.op) for e in events] == [
            ("achievement.created", 1, "delete"),
            ("achievement.updated", 2, "delete"),
            ("achievement.published", 3, "upsert"),
            ("achievement.withdrawn", 4, "delete"),
        ]
        assert all(e.entity_kind == "achievement" and str(e.entity_id) == listing["id"] for e in events)
        published = events[2].payload
        assert "contact" not in published
        assert "王老师" not in str(published)
        assert published["title"] == listing["title"]
        assert published["status"] == "published"
        assert published["price"] == {"kind": "range", "min_fen": 5000000, "max_fen": 12000000}

    async def test_demands_write_events_too(self, stack: Stack, actors: Any) -> None:
        company = await actors.org_member(kind="enterprise")
        demand = await create_listing(stack, company, "demands", demand_body())
        await transition(stack, company, "demands", demand["id"], "publish")
        events = await outbox(stack)
        assert [(e.entity_kind, e.event_type, e.op) for e in events] == [
            ("demand", "demand.created", "delete"),
            ("demand", "demand.published", "upsert"),
        ]
        assert "contact" not in events[1].payload


class TestRelayDelivery:
    async def test_delivers_in_version_order_and_marks_delivered(
        self, stack: Stack, actors: Any, receiver: tuple[Receiver, httpx.AsyncClient]
    ) -> None:
        target, client = receiver
        uni = await actors.org_member(kind="university")
        first = await create_listing(stack, uni)
        second = await create_listing(stack, uni, patents=[], title="第二项成果")
        await transition(stack, uni, "achievements", first["id"], "publish")
        await transition(stack, uni, "achievements", second["id"], "publish")
        await transition(stack, uni, "achievements", first["id"], "negotiate")
        relay = make_relay(stack, client, batch_size=2)
        assert await relay.drain() == 5
        by_entity: dict[str, list[int]] = {}
        for document in target.documents:
            by_entity.setdefault(document["id"], []).append(document["version"])
        assert by_entity == {first["id"]: [1, 2, 3], second["id"]: [1, 2]}
        last = [d for d in target.documents if d["id"] == first["id"]][-1]
        assert set(last) == {"op", "kind", "id", "version", "fields"}
        assert last["op"] == "upsert"
        assert last["kind"] == "achievement"
        assert last["fields"]["status"] == "negotiating"
        assert "contact" not in last["fields"]
        deleted = [d for d in target.documents if d["op"] == "delete"]
        assert all(d["fields"] == {} for d in deleted)
        assert all(e.delivered_at is not None and e.attempts == 1 for e in await outbox(stack))
        assert await relay.drain() == 0
        assert len(target.documents) == 5

    async def test_failure_is_retried_with_exponential_backoff(
        self, stack: Stack, actors: Any, receiver: tuple[Receiver, httpx.AsyncClient]
    ) -> None:
        target, client = receiver
        uni = await actors.org_member(kind="university")
        await create_listing(stack, uni)
        now = [dt.datetime.now(dt.UTC)]
        relay = make_relay(stack, client, base_backoff_seconds=2.0, max_backoff_seconds=5.0, clock=lambda: now[0])
        target.fail_next = [503, 500, 502]
        for attempt, delay in enumerate([2.0, 4.0, 5.0], start=1):
            result = await relay.run_once()
            assert (result.claimed, result.delivered, result.failed) == (1, 0, 1)
            assert result.error is not None
            [event] = await outbox(stack)
            assert event.attempts == attempt
            assert event.delivered_at is None
            assert event.last_error is not None
            assert "HTTP 5" in event.last_error
            assert event.next_attempt_at == now[0] + dt.timedelta(seconds=delay)
            # Not due yet: nothing is claimed before the backoff has passed.
            assert (await relay.run_once()).claimed == 0
            now[0] = event.next_attempt_at
        assert (await relay.run_once()).delivered == 1
        [event] = await outbox(stack)
        assert event.delivered_at is not None
        assert event.last_error is None
        assert len(target.documents) == 1

    async def test_unreachable_target_is_a_retry_not_a_crash(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        await create_listing(stack, uni)

        def refuse(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("connection refused", request=request)

        async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
            result = await make_relay(stack, client).run_once()
        assert result.failed == 1
        assert "ConnectError" in (result.error or "")

    async def test_401_invalidates_the_token(
        self, stack: Stack, actors: Any, receiver: tuple[Receiver, httpx.AsyncClient]
    ) -> None:
        target, client = receiver
        uni = await actors.org_member(kind="university")
        await create_listing(stack, uni)
        tokens = FakeTokens(token="expired")
        result = await make_relay(stack, client, tokens=tokens).run_once()
        assert result.failed == 1
        assert tokens.invalidated == 1
        assert target.documents == []

    async def test_later_versions_wait_for_an_earlier_one_held_elsewhere(
        self, stack: Stack, actors: Any, receiver: tuple[Receiver, httpx.AsyncClient]
    ) -> None:
        target, client = receiver
        uni = await actors.org_member(kind="university")
        held = await create_listing(stack, uni)
        free = await create_listing(stack, uni, patents=[], title="另一项")
        await transition(stack, uni, "achievements", held["id"], "publish")
        # Version 1 of `held` is leased by another relay (or waiting for its retry).
        async with stack.service_app("market").state.sessionmaker() as session:
            await session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.entity_id == uuid.UUID(held["id"]), OutboxEvent.version == 1)  # type: ignore[arg-type]
                .values(next_attempt_at=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5))
            )
            await session.commit()
        await make_relay(stack, client).drain()
        assert [(d["id"], d["version"]) for d in target.documents] == [(free["id"], 1)]

    async def test_concurrent_relays_deliver_each_event_once_in_order(
        self, stack: Stack, actors: Any, receiver: tuple[Receiver, httpx.AsyncClient]
    ) -> None:
        target, client = receiver
        uni = await actors.org_member(kind="university")
        ids = []
        for i in range(6):
            listing = await create_listing(stack, uni, patents=[], title=f"成果 {i}")
            await transition(stack, uni, "achievements", listing["id"], "publish")
            ids.append(listing["id"])
        relays = [make_relay(stack, client, batch_size=3) for _ in range(3)]
        await asyncio.gather(*(r.drain() for r in relays))
        for relay in relays:
            await relay.drain()
        delivered = [(d["id"], d["version"]) for d in target.documents]
        assert sorted(delivered) == sorted((i, v) for i in ids for v in (1, 2))
        for listing_id in ids:
            versions = [v for i, v in delivered if i == listing_id]
            assert versions == [1, 2]


@pytest.fixture
async def market_with_background_relay(databases: Databases, tmp_path: Path) -> AsyncIterator[tuple[FastAPI, Receiver]]:
    target = Receiver()
    settings = MarketSettings(
        environment="test",
        data_dir=tmp_path,
        database_url=databases.urls["market"],
        relay_enabled=True,
        relay_interval_seconds=0.05,
        search_url="http://receiver/search",
        auth_url="http://receiver/auth",
    )
    app = create_market_app(settings, transport=httpx.ASGITransport(app=target.app))
    async with LifespanManager(app):
        yield app, target


class TestBackgroundRelay:
    async def test_lifespan_relay_delivers_with_a_client_credentials_token(
        self, market_with_background_relay: tuple[FastAPI, Receiver]
    ) -> None:
        app, target = market_with_background_relay
        principal = Principal(
            subject="u-1",
            token_id="t",
            roles=frozenset({"member"}),
            org_id=uuid.uuid4(),
            org_kind="university",
            org_path="/x/",
            org_verified=True,
            org_region="510100",
        )
        async with app.state.sessionmaker() as session:
            row = await listings_service.create_listing(
                session=session,
                kind=ACHIEVEMENT,
                principal=principal,
                payload=AchievementCreate.model_validate(achievement_body()),
            )
            await session.commit()
        for _ in range(200):
            if target.documents:
                break
            await asyncio.sleep(0.025)
        assert [(d["id"], d["version"], d["op"]) for d in target.documents] == [(str(row.id), 1, "delete")]
        assert target.token_requests[0]["grant_type"] == "client_credentials"
        assert target.token_requests[0]["scope"] == "search:ingest"

    def test_relay_is_off_in_tests_unless_asked(self) -> None:
        assert MarketSettings(environment="test").relay_runs_in_app is False
        assert MarketSettings(environment="development").relay_runs_in_app is True
        assert MarketSettings(environment="development", relay_enabled=False).relay_runs_in_app is False
