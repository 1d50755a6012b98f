"""Fixtures of the webhook tests: a real receiver on loopback, the brokerage world, a deliverer driving rounds."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from services.market.webhooks.delivery import DeliveryConfig, OnDisabled, RoundReport, open_client, run_round
from services.market.webhooks.ssrf import Resolver
from shared.clock import utcnow
from tests.conftest import Stack
from tests.market.proposals.world import World, make_world
from tests.market.webhooks.receiver import Received, Receiver
from tests.support.actors import Actor, Actors

URL = "/market/webhooks"
TEST_CONFIG = DeliveryConfig(environment="test", timeout=0.5, response_cap=64 * 1024, batch=50)


def verify(secret: str, request: Received, *, tolerance: dt.timedelta | None = None) -> bool:
    """The Standard Webhooks verification, written from the spec (independent of services.market.webhooks)."""
    assert secret.startswith("whsec_")
    key = base64.b64decode(secret[len("whsec_") :])
    msg_id = request.headers["webhook-id"]
    timestamp = request.headers["webhook-timestamp"]
    if tolerance is not None:
        sent = dt.datetime.fromtimestamp(int(timestamp), dt.UTC)
        if abs(utcnow() - sent) > tolerance:
            return False
    expected = base64.b64encode(
        hmac.new(key, f"{msg_id}.{timestamp}.".encode() + request.body, hashlib.sha256).digest()
    ).decode()
    for signature in request.headers["webhook-signature"].split(" "):
        version, _, value = signature.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected.encode()):
            return True
    return False


@dataclass
class Hooks:
    """The world plus an org admin of the seller university, the receiver and a way to run delivery rounds."""

    world: World
    admin: Actor  # org_admin of the seller's university
    receiver: Receiver
    client: httpx.AsyncClient  # the webhook client the rounds use (a real one, not the in-process transport)

    @property
    def stack(self) -> Stack:
        return self.world.stack

    @property
    def api(self) -> httpx.AsyncClient:
        return self.world.client

    async def create(self, actor: Actor | None = None, **body: Any) -> dict[str, Any]:
        payload = {"url": self.receiver.url, "event_types": ["proposal.received", "interest.received"], **body}
        response = await self.api.post(URL, json=payload, headers=(actor or self.admin).headers)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def get(self, webhook_id: str, actor: Actor | None = None) -> httpx.Response:
        return await self.api.get(f"{URL}/{webhook_id}", headers=(actor or self.admin).headers)

    async def patch(self, webhook_id: str, body: dict[str, Any], actor: Actor | None = None) -> httpx.Response:
        current = await self.get(webhook_id)
        headers = {**(actor or self.admin).headers, "If-Match": current.headers["ETag"]}
        return await self.api.patch(f"{URL}/{webhook_id}", json=body, headers=headers)

    async def deliveries(self, webhook_id: str, actor: Actor | None = None) -> list[dict[str, Any]]:
        response = await self.api.get(
            f"{URL}/{webhook_id}/deliveries", params={"limit": "100"}, headers=(actor or self.admin).headers
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def round(
        self,
        now: dt.datetime | None = None,
        *,
        config: DeliveryConfig = TEST_CONFIG,
        resolver: Resolver | None = None,
        rand: Callable[[], float] | None = None,
        on_disabled: OnDisabled | None = None,
    ) -> RoundReport:
        sessionmaker = self.stack.service_app("market").state.sessionmaker
        extra: dict[str, Any] = {"rand": rand} if rand is not None else {}
        return await run_round(
            sessionmaker,
            client=self.client,
            config=config,
            now=now or utcnow(),
            resolver=resolver,
            on_disabled=on_disabled,
            **extra,
        )


def body_of(request: Received) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(request.body)
    return parsed


@pytest.fixture
async def hooks(stack: Stack, actors: Actors) -> AsyncIterator[Hooks]:
    world = await make_world(stack, actors)
    admin = await actors.colleague(world.seller, roles=("org_admin", "member"))
    async with Receiver() as receiver, open_client(TEST_CONFIG) as client:
        yield Hooks(world=world, admin=admin, receiver=receiver, client=client)
