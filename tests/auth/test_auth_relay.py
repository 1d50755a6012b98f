"""The auth relay: organization events from auth_outbox to market's directory, at least once and in order.

Market's receiver (POST /market/directory/organizations) is stood in for by an httpx.MockTransport that records
each request and answers like the contract says ({"applied", "stale"}); everything on the auth side is real,
including the client_credentials token the relay gets from auth's own /token.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, Request
from typer.testing import CliRunner

from services.auth.app import create_app as create_auth_app
from services.auth.organizations.repository import OrganizationRepository
from services.auth.outbox.models import AuthOutboxEvent
from services.auth.outbox.relay import build_relay
from services.auth.settings import AuthSettings
from services.cli import app as cli_app
from services.embedded import INTERNAL_BASE_URL
from shared.outbox.relay import Relay
from shared.outbox.repository import OutboxRepository
from shared.security import Principal
from tests.auth.helpers import ORGANIZATION_FEED_FIELDS, signup, signup_body
from tests.conftest import TEST_ADMIN_EMAIL, TEST_ADMIN_PASSWORD, Databases, Stack
from tests.support.actors import Actor, Actors

DOCUMENT_KEYS = {"op", "kind", "id", "version", "event_type", "fields"}


@dataclass
class Market:
    """What market's directory endpoint received; answers ``fail_next`` statuses first."""

    requests: list[httpx.Request] = field(default_factory=list)
    delivered: list[dict[str, Any]] = field(default_factory=list)  # documents of accepted requests, in order
    fail_next: list[int] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail_next:
            return httpx.Response(self.fail_next.pop(0), json={"detail": "market is down"})
        documents = json.loads(request.content)["documents"]
        self.delivered.extend(documents)
        return httpx.Response(200, json={"applied": len(documents), "stale": 0})

    def of(self, org_id: object) -> list[dict[str, Any]]:
        return [d for d in self.delivered if d["id"] == str(org_id)]


@pytest.fixture
async def market() -> AsyncIterator[tuple[Market, httpx.AsyncClient]]:
    made = Market()
    async with httpx.AsyncClient(transport=httpx.MockTransport(made.handle)) as client:
        yield made, client


def auth_relay(stack: Stack, client: httpx.AsyncClient) -> Relay[AuthOutboxEvent]:
    """The auth app's relay configuration and real token provider, posting through ``client``."""
    auth = stack.service_app("auth")
    return build_relay(
        auth.state.settings, sessionmaker=auth.state.sessionmaker, client=client, tokens=auth.state.relay.tokens
    )


async def verify_token(stack: Stack, request: httpx.Request) -> Principal:
    scheme, _, token = request.headers["authorization"].partition(" ")
    assert scheme == "Bearer"
    principal: Principal = await stack.service_app("market").state.token_verifier.verify(token)
    return principal


async def events_of(stack: Stack, org_id: object) -> list[AuthOutboxEvent]:
    async with stack.service_app("auth").state.sessionmaker() as session:
        return await OutboxRepository(session, AuthOutboxEvent).list_for_entity(
            entity_kind="organization", entity_id=uuid.UUID(str(org_id))
        )


class TestDelivery:
    async def test_posts_the_documents_with_a_market_directory_token(
        self, stack: Stack, actors: Actors, market: tuple[Market, httpx.AsyncClient]
    ) -> None:
        target, client = market
        admin = await actors.platform_admin()
        created = await signup(stack.client, name="电子科技大学")
        org_id = created["organization"]["id"]
        await stack.client.post(f"/auth/organizations/{org_id}/verify", headers=admin.headers)
        relay = auth_relay(stack, client)
        assert await relay.drain() >= 2

        request = target.requests[0]
        assert (request.method, str(request.url)) == ("POST", f"{INTERNAL_BASE_URL}/market/directory/organizations")
        assert request.headers["content-type"] == "application/json"
        principal = await verify_token(stack, request)
        assert (principal.client_id, principal.scopes, principal.is_service) == (
            "auth-relay",
            frozenset({"market:directory"}),
            True,
        )
        for sent in target.requests:
            assert set(json.loads(sent.content)) == {"documents"}
        assert all(set(d) == DOCUMENT_KEYS and set(d["fields"]) == ORGANIZATION_FEED_FIELDS for d in target.delivered)
        ours = target.of(org_id)
        assert [(d["version"], d["event_type"], d["fields"]["status"]) for d in ours] == [
            (1, "organization.created", "pending"),
            (2, "organization.verified", "verified"),
        ]
        assert ours[1] == {
            "op": "upsert",
            "kind": "organization",
            "id": org_id,
            "version": 2,
            "event_type": "organization.verified",
            "fields": {**ours[1]["fields"], "name": "电子科技大学", "kind": "university", "version": 2},
        }
        # The bootstrap center went out too, verified.
        assert any(d["fields"]["kind"] == "center" and d["fields"]["status"] == "verified" for d in target.delivered)
        assert all(e.delivered_at is not None and e.attempts == 1 for e in await events_of(stack, org_id))
        assert await relay.drain() == 0

    async def test_a_failure_is_retried_later_and_order_is_kept(
        self, stack: Stack, actors: Actors, market: tuple[Market, httpx.AsyncClient]
    ) -> None:
        target, client = market
        admin = await actors.platform_admin()
        relay = auth_relay(stack, client)
        await relay.drain()  # what the setup wrote (the center, the actors' organizations)
        target.requests.clear()
        target.delivered.clear()

        created = await signup(stack.client)
        org_id = created["organization"]["id"]
        org = f"/auth/organizations/{org_id}"
        await stack.client.post(f"{org}/verify", headers=admin.headers)
        await stack.client.patch(org, json={"name": "改名后的大学"}, headers=admin.headers)

        now = [dt.datetime.now(dt.UTC)]
        relay.clock = lambda: now[0]
        relay.batch_size = 1
        target.fail_next = [503, 502]
        for attempt, delay in enumerate([1.0, 2.0], start=1):
            result = await relay.run_once()
            assert (result.claimed, result.delivered, result.failed) == (1, 0, 1)
            first = (await events_of(stack, org_id))[0]
            assert (first.version, first.attempts, first.delivered_at) == (1, attempt, None)
            assert first.last_error is not None
            assert first.last_error.startswith("HTTP 50")
            assert first.next_attempt_at == now[0] + dt.timedelta(seconds=delay)
            # Versions 2 and 3 are due, but must not overtake version 1.
            assert (await relay.run_once()).claimed == 0
            now[0] = first.next_attempt_at
        assert await relay.drain() == 3
        assert [(d["version"], d["event_type"]) for d in target.delivered] == [
            (1, "organization.created"),
            (2, "organization.verified"),
            (3, "organization.updated"),
        ]
        assert target.delivered[-1]["fields"]["name"] == "改名后的大学"
        assert all(e.delivered_at is not None for e in await events_of(stack, org_id))

    async def test_an_unreachable_market_is_a_retry(self, stack: Stack, actors: Actors) -> None:
        await pending_rename(stack, actors, await actors.org_member(), "暂时送不到的名字")

        def refuse(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("connection refused", request=request)

        async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
            result = await auth_relay(stack, client).run_once()
        assert result.failed >= 1
        assert "ConnectError" in (result.error or "")


class TestInTheApp:
    def test_the_embedded_app_points_the_relay_at_its_own_market(self, stack: Stack) -> None:
        auth = stack.service_app("auth")
        assert auth.state.relay.target_url == f"{INTERNAL_BASE_URL}/market/directory/organizations"
        assert auth.state.settings.relay_runs_in_app is False  # environment=test: tests drive it by hand

    async def test_lifespan_relay_delivers_by_itself(self, databases: Databases, tmp_path: Path) -> None:
        target = Market()
        settings = AuthSettings(
            environment="test",
            data_dir=tmp_path,
            database_url=databases.urls["auth"],
            bootstrap_admin_email=TEST_ADMIN_EMAIL,
            bootstrap_admin_password=TEST_ADMIN_PASSWORD,
            password_hash_memory_kib=1024,
            password_hash_time_cost=1,
            relay_enabled=True,
            relay_interval_seconds=0.05,
            market_url="http://market.test/market",
            auth_url="http://nowhere.invalid/auth",  # the relay's token comes in-process, not from here
        )
        app: FastAPI = create_auth_app(settings, transport=httpx.MockTransport(target.handle))
        async with (
            LifespanManager(app, startup_timeout=60) as manager,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://auth") as client,
        ):
            body = signup_body(name="西南石油大学")
            response = await client.post("/signup", json=body)
            assert response.status_code == 202, response.text
            async with app.state.sessionmaker() as session:
                organization = await OrganizationRepository(session).by_credit_code(body["organization"]["credit_code"])
            assert organization is not None
            org_id = str(organization.id)
            for _ in range(200):
                if target.of(org_id):
                    break
                await asyncio.sleep(0.025)
            [document] = target.of(org_id)
            assert (document["event_type"], document["version"]) == ("organization.created", 1)
            request = target.requests[-1]
            assert str(request.url) == "http://market.test/market/directory/organizations"
            principal = await app.state.token_verifier.verify(request.headers["authorization"].split()[1])
            assert principal.scopes == frozenset({"market:directory"})


async def pending_rename(stack: Stack, actors: Actors, member: Actor, name: str) -> None:
    """Rename ``member``'s organization, leaving its event undelivered (actors deliver what they create)."""
    admin = await actors.platform_admin()
    response = await stack.client.patch(
        f"/auth/organizations/{member.org_id}", json={"name": name}, headers=admin.headers
    )
    assert response.status_code == 200, response.text


class TestRelayCommand:
    """`techmarket auth relay --once`: the production process, over real HTTP on the loopback interface."""

    async def test_once_gets_a_token_from_auth_and_delivers_to_market(
        self, stack: Stack, actors: Actors, databases: Databases
    ) -> None:
        member = await actors.org_member(name="四川农业学院")
        await pending_rename(stack, actors, member, "四川农业大学")
        received: list[tuple[str, dict[str, Any]]] = []
        directory = FastAPI()

        @directory.post("/market/directory/organizations")
        async def receive(request: Request) -> dict[str, int]:
            body = await request.json()
            received.append((request.headers["authorization"], body))
            return {"applied": len(body["documents"]), "stale": 0}

        async def served(scope: Any, receive: Any, send: Any) -> None:
            # Market's directory is the stand-in above; everything else (auth's /token) is the real embedded app.
            to_directory = str(scope.get("path", "")).startswith("/market/directory/")
            await (directory if to_directory else stack.app)(scope, receive, send)

        server = uvicorn.Server(uvicorn.Config(served, host="127.0.0.1", port=0, lifespan="off", log_config=None))
        serving = asyncio.create_task(server.serve())
        try:
            for _ in range(400):
                if server.started:
                    break
                await asyncio.sleep(0.025)
            port = server.servers[0].sockets[0].getsockname()[1]
            env = {
                "AUTH_ENVIRONMENT": "test",
                "AUTH_DATABASE_URL": databases.urls["auth"],
                "AUTH_URL": f"http://127.0.0.1:{port}/auth",
                "AUTH_MARKET_URL": f"http://127.0.0.1:{port}/market",
            }
            result = await asyncio.to_thread(CliRunner().invoke, cli_app, ["auth", "relay", "--once"], env=env)
            again = await asyncio.to_thread(CliRunner().invoke, cli_app, ["auth", "relay", "--once"], env=env)
        finally:
            server.should_exit = True
            await serving
        assert result.exit_code == 0, result.output
        delivered = [d for _, body in received for d in body["documents"]]
        assert f"delivered {len(delivered)} events" in result.output
        assert "delivered 0 events" in again.output
        ours = [(d["version"], d["event_type"]) for d in delivered if d["id"] == str(member.org_id)]
        assert ours == [(3, "organization.updated")]
        principal = await stack.service_app("market").state.token_verifier.verify(received[0][0].split()[1])
        assert (principal.client_id, principal.scopes) == ("auth-relay", frozenset({"market:directory"}))
