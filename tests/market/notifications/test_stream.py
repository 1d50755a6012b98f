"""The live inbox (GET /market/notifications/stream) over a real socket, on both backends.

httpx's ASGITransport buffers whole responses, so the stream is read from the app served by uvicorn on a loopback
port (in this event loop). Errors answered before the stream starts (401, 422, 503) need no socket. Nothing waits
a fixed time: every wait is for an expected event, with a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from services.embedded import INTERNAL_BASE_URL
from services.market.app import create_app as create_market_app
from services.market.notifications import service as notifications_service
from services.market.notifications import stream as stream_module
from shared.broadcast import InProcessBroadcaster, PostgresBroadcaster
from tests.conftest import Stack
from tests.market.proposals.world import World
from tests.support.actors import Actor
from tests.support.net import free_port
from tests.support.problems import assert_problem

URL = "/market/notifications/stream"
# Pushed within a second of the commit (issue 14).
PUSH_TIMEOUT = 1.0
# Generous bound for things that must merely happen (start-up, a stream closing).
SETTLE_TIMEOUT = 10.0


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """``app`` (lifespan already running) served by uvicorn on a loopback port; yields its base URL."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=free_port(), lifespan="off", log_level="warning", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(SETTLE_TIMEOUT):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def base_url(stack: Stack) -> AsyncIterator[str]:
    async with serving(stack.app) as url:
        yield url


@dataclass
class Event:
    id: str | None = None
    event: str | None = None
    data: str | None = None
    retry: str | None = None
    comments: list[str] = field(default_factory=list)


class EventReader:
    """Parses the text/event-stream of one open response into events (comments kept)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def next(self, within: float = SETTLE_TIMEOUT) -> Event:
        async with asyncio.timeout(within):
            event = Event()
            async for line in self._lines:
                if line == "":
                    return event
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "":
                    event.comments.append(value)
                elif name in ("id", "event", "data", "retry"):
                    setattr(event, name, value)
            raise AssertionError("the stream ended")

    async def notification(self, within: float = SETTLE_TIMEOUT) -> tuple[str, dict[str, Any]]:
        """The next notification event (keepalive comments skipped): its id and its data."""
        async with asyncio.timeout(within):
            while True:
                event = await self.next()
                if event.event is None and event.comments:
                    continue
                assert event.event == "notification", event
                assert event.id is not None
                assert event.data is not None
                item = httpx.Response(200, content=event.data).json()
                assert item["id"] == event.id
                return event.id, item


@contextlib.asynccontextmanager
async def open_stream(
    base_url: str, actor: Actor, *, headers: dict[str, str] | None = None, params: dict[str, str] | None = None
) -> AsyncIterator[EventReader]:
    """A stream of ``actor``; the retry hint is already read, so it is listening when this yields."""
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(SETTLE_TIMEOUT)) as client,
        client.stream("GET", URL, headers={**actor.headers, **(headers or {})}, params=params) as response,
    ):
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = EventReader(response)
        first = await reader.next()
        assert first.retry is not None
        assert int(first.retry) >= 0
        yield reader


async def record(
    stack: Stack,
    *,
    users: Sequence[str] = (),
    orgs: Sequence[tuple[uuid.UUID | None, str | None]] = (),
    commit: bool = True,
    title: str = "测试通知",
) -> list[str]:
    """Record a notification through notify() in a session of the market app; returns the new ids."""
    market = stack.service_app("market")
    async with market.state.sessionmaker() as session:
        rows = await notifications_service.notify(
            session=session,
            type="proposal.received",
            title=title,
            subject_type="proposal",
            subject_id=uuid.uuid4(),
            users=users,
            orgs=orgs,
        )
        if commit:
            await session.commit()
        else:
            await session.rollback()
    return [str(r.id) for r in rows]


async def until(condition: Callable[[], bool]) -> None:
    """Wait (bounded) for a state change that has no event to await: the server's bookkeeping of a closed stream."""
    async with asyncio.timeout(SETTLE_TIMEOUT):
        while not condition():  # noqa: ASYNC110  (polls another component's counters; nothing to await)
            await asyncio.sleep(0.02)


async def wait_for_listener(stack: Stack) -> None:
    """On PostgreSQL the LISTEN connection starts in the background: wait until it is up."""
    broadcaster = stack.service_app("market").state.broadcaster
    if isinstance(broadcaster, PostgresBroadcaster):
        async with asyncio.timeout(SETTLE_TIMEOUT):
            await broadcaster.wait_listening()


class TestLive:
    async def test_a_proposal_reaches_both_owners_within_a_second_and_nobody_else(
        self, world: World, base_url: str
    ) -> None:
        await wait_for_listener(world.stack)
        async with (
            open_stream(base_url, world.seller) as seller,
            open_stream(base_url, world.buyer) as buyer,
            open_stream(base_url, world.outsider) as outsider,
            open_stream(base_url, world.broker) as broker,
        ):
            proposal = await world.propose()  # the broker acts; both owner organizations are told
            for reader, owner in ((seller, world.seller), (buyer, world.buyer)):
                event_id, item = await reader.notification(within=PUSH_TIMEOUT)
                assert (item["type"], item["subject_id"]) == ("proposal.received", proposal["id"])
                listed = await world.client.get("/market/notifications", headers=owner.headers)
                assert [n["id"] for n in listed.json()["items"]] == [event_id]
            # The outsider's and the broker's first events are their own markers, recorded after the proposal: the
            # proposal never reached them.
            for reader, actor in ((outsider, world.outsider), (broker, world.broker)):
                [marker] = await record(world.stack, users=[actor.subject])
                event_id, item = await reader.notification(within=PUSH_TIMEOUT)
                assert event_id == marker

    async def test_role_addressed_rows_reach_only_that_role(self, world: World, base_url: str) -> None:
        seller = world.seller
        assert "registrar" not in seller.roles
        async with open_stream(base_url, seller) as reader:
            await record(world.stack, orgs=[(seller.org_id, "registrar")], title="登记员才看得到")
            [everyone] = await record(world.stack, orgs=[(seller.org_id, None)], title="全体成员")
            event_id, item = await reader.notification(within=PUSH_TIMEOUT)
            assert (event_id, item["addressed_to"]) == (everyone, "organization")

    async def test_the_stream_ends_after_its_maximum_length(self, world: World, base_url: str) -> None:
        world.stack.service_app("market").state.settings.notifications_stream_max_seconds = 0.3
        async with open_stream(base_url, world.seller) as reader:
            with pytest.raises(AssertionError, match="the stream ended"):
                await reader.next()

    async def test_a_row_committed_after_a_newer_one_still_arrives(self, world: World, base_url: str) -> None:
        if world.stack.backend != "postgresql":
            pytest.skip("SQLite writers queue on one lock: a newer row cannot commit before an older one")
        market = world.stack.service_app("market")
        async with open_stream(base_url, world.seller) as reader, market.state.sessionmaker() as slow:
            [older] = await notifications_service.notify(
                session=slow,
                type="proposal.received",
                title="先写后提交",
                subject_type="proposal",
                subject_id=uuid.uuid4(),
                users=[world.seller.subject],
            )
            [newer] = await record(world.stack, users=[world.seller.subject], title="后写先提交")
            assert uuid.UUID(newer) > older.id
            assert (await reader.notification(within=PUSH_TIMEOUT))[0] == newer
            await slow.commit()
            # Below the cursor, but inside the look-back window: sent, once.
            assert (await reader.notification(within=PUSH_TIMEOUT))[0] == str(older.id)
            [last] = await record(world.stack, users=[world.seller.subject])
            assert (await reader.notification(within=PUSH_TIMEOUT))[0] == last

    async def test_connecting_without_last_event_id_sends_nothing_old(self, world: World, base_url: str) -> None:
        await record(world.stack, users=[world.seller.subject], title="旧通知")
        async with open_stream(base_url, world.seller) as seller:
            [new] = await record(world.stack, users=[world.seller.subject], title="新通知")
            event_id, item = await seller.notification(within=PUSH_TIMEOUT)
            assert (event_id, item["title"]) == (new, "新通知")

    async def test_an_idle_stream_sends_keepalive_comments(self, world: World, base_url: str) -> None:
        settings = world.stack.service_app("market").state.settings
        settings.notifications_stream_heartbeat_seconds = 0.2
        async with open_stream(base_url, world.seller) as seller:
            event = await seller.next()
            assert (event.event, event.id, event.comments) == (None, None, ["keepalive"])

    async def test_a_lost_wake_up_is_caught_by_the_poll(self, world: World, base_url: str) -> None:
        market = world.stack.service_app("market")
        market.state.settings.notifications_stream_poll_seconds = 0.2
        async with open_stream(base_url, world.seller) as seller:
            # A session without the app's broadcaster publishes nothing (like a lost wake-up).
            async with market.state.sessionmaker() as session:
                session.info.clear()
                [row] = await notifications_service.notify(
                    session=session,
                    type="proposal.received",
                    title="无唤醒",
                    subject_type="proposal",
                    subject_id=uuid.uuid4(),
                    users=[world.seller.subject],
                )
                await session.commit()
            event_id, _ = await seller.notification()
            assert event_id == str(row.id)


class TestResume:
    async def test_last_event_id_replays_exactly_the_missed_ones_in_order_then_live(
        self, world: World, base_url: str
    ) -> None:
        seller = world.seller.subject
        [seen] = await record(world.stack, users=[seller], title="一")
        missed = [
            *(await record(world.stack, users=[seller], title="二")),
            *(await record(world.stack, users=[world.buyer.subject], title="别人的")),
            *(await record(world.stack, users=[seller], title="三")),
        ]
        del missed[1]  # the buyer's is not the seller's
        for how in ({"headers": {"Last-Event-ID": seen}}, {"params": {"last_event_id": seen}}):
            async with open_stream(base_url, world.seller, **how) as reader:  # type: ignore[arg-type]
                replayed = [(await reader.notification())[0] for _ in missed]
                assert replayed == missed
                [live] = await record(world.stack, users=[seller], title="四")
                assert (await reader.notification(within=PUSH_TIMEOUT))[0] == live
            missed.append(live)

    # Look-back 0: each read continues from the cursor; 10 s: the rows are inside the window, so each read skips
    # what was sent. Both paths must give every row once, in order.
    @pytest.mark.parametrize("lookback", [0.0, 10.0])
    async def test_a_backlog_longer_than_one_read_replays_whole_and_in_order(
        self, world: World, base_url: str, monkeypatch: pytest.MonkeyPatch, lookback: float
    ) -> None:
        monkeypatch.setattr(stream_module, "_BATCH", 5)
        world.stack.service_app("market").state.settings.notifications_stream_lookback_seconds = lookback
        [seen] = await record(world.stack, users=[world.seller.subject])
        missed: list[str] = []
        for n in range(12):
            missed += await record(world.stack, users=[world.seller.subject], title=f"积压 {n}")
        async with open_stream(base_url, world.seller, headers={"Last-Event-ID": seen}) as reader:
            replayed = [(await reader.notification())[0] for _ in missed]
            [live] = await record(world.stack, users=[world.seller.subject])
            assert (await reader.notification(within=PUSH_TIMEOUT))[0] == live
        assert replayed == sorted(missed, key=uuid.UUID)
        assert sorted(missed, key=uuid.UUID) == missed  # recorded in id order

    async def test_without_a_token_401(self, stack: Stack) -> None:
        response = await stack.client.get(URL)
        assert_problem(response, 401)

    async def test_a_bad_last_event_id_is_422_naming_it(self, world: World) -> None:
        [foreign] = await record(world.stack, users=[world.buyer.subject])
        for headers, params, field_name in (
            ({"Last-Event-ID": "not-an-id"}, {}, "Last-Event-ID"),
            ({"Last-Event-ID": foreign}, {}, "Last-Event-ID"),
            ({}, {"last_event_id": str(uuid.uuid4())}, "last_event_id"),
        ):
            response = await world.client.get(URL, headers={**world.seller.headers, **headers}, params=params)
            assert_problem(response, 422)
            assert [e["field"] for e in response.json()["errors"]] == [field_name]


class TestResources:
    async def test_beyond_the_cap_503_and_a_closed_stream_frees_its_slot(self, world: World, base_url: str) -> None:
        market = world.stack.service_app("market")
        slots = market.state.notification_streams
        broadcaster = market.state.broadcaster
        slots.limit = 1
        async with open_stream(base_url, world.seller):
            assert (slots.open, broadcaster.subscribers) == (1, 1)
            refused = await world.client.get(URL, headers=world.buyer.headers)
            assert_problem(refused, 503)
            assert refused.headers["retry-after"]
        # The client went away: the server notices, ends the generator, unsubscribes and frees the slot.
        await until(lambda: not slots.open and not broadcaster.subscribers)
        async with open_stream(base_url, world.buyer):
            assert slots.open == 1


class TestBroadcaster:
    async def test_a_rolled_back_transaction_publishes_nothing(self, stack: Stack) -> None:
        await wait_for_listener(stack)
        broadcaster = stack.service_app("market").state.broadcaster
        expected = InProcessBroadcaster if stack.backend == "sqlite" else PostgresBroadcaster
        assert isinstance(broadcaster, expected)
        async with broadcaster.subscribe({"user:aborted", "user:committed"}) as subscription:
            await record(stack, users=["aborted"], commit=False)
            await record(stack, users=["committed"])
            # Delivered in commit order: had the rollback published, its key would be heard first or together.
            assert await subscription.wait(within=SETTLE_TIMEOUT) == {"user:committed"}

    async def test_postgres_listener_reconnects_after_losing_its_connection(self, stack: Stack) -> None:
        if stack.backend != "postgresql":
            pytest.skip("LISTEN/NOTIFY is the PostgreSQL broadcaster")
        broadcaster: PostgresBroadcaster = stack.service_app("market").state.broadcaster
        await wait_for_listener(stack)
        async with broadcaster.subscribe({"user:after-reconnect"}) as subscription:
            lost = broadcaster._connection
            await broadcaster.drop_connection()
            await until(lambda: broadcaster._connection not in (None, lost))
            # The reconnect itself wakes every subscriber (what was published meanwhile is lost).
            assert await subscription.wait(within=SETTLE_TIMEOUT) == {"user:after-reconnect"}
            await record(stack, users=["after-reconnect"])
            assert await subscription.wait(within=SETTLE_TIMEOUT) == {"user:after-reconnect"}


class TestReplicas:
    async def test_a_notification_made_on_one_replica_reaches_a_stream_on_another(self, world: World) -> None:
        if world.stack.backend != "postgresql":
            pytest.skip("replicas share a PostgreSQL database; the embedded default is one process")
        await wait_for_listener(world.stack)
        # Replica B: a second market app on the same database, verifying tokens with the same auth.
        settings_b = world.stack.market_settings.model_copy(update={"auth_url": f"{INTERNAL_BASE_URL}/auth"})
        replica_b = create_market_app(settings_b, transport=httpx.ASGITransport(app=world.stack.app))
        async with LifespanManager(replica_b, startup_timeout=60, shutdown_timeout=60):
            broadcaster_b = replica_b.state.broadcaster
            assert isinstance(broadcaster_b, PostgresBroadcaster)
            async with asyncio.timeout(SETTLE_TIMEOUT):
                await broadcaster_b.wait_listening()
            # Mounted under /market in the embedded app; alone, replica B serves at its root.
            async with (
                serving(replica_b) as url_b,
                httpx.AsyncClient(base_url=url_b, timeout=httpx.Timeout(SETTLE_TIMEOUT)) as client,
                client.stream("GET", "/notifications/stream", headers=world.seller.headers) as response,
            ):
                assert response.status_code == 200
                reader = EventReader(response)
                assert (await reader.next()).retry is not None
                proposal = await world.propose()  # through replica A (the embedded app)
                _, item = await reader.notification(within=PUSH_TIMEOUT)
                assert item["subject_id"] == proposal["id"]
