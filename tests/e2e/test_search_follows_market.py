"""End to end: what market publishes reaches search through the outbox relay, even across a search outage.

Everything here is real: the auth service issues the relay's client_credentials token, market writes outbox rows,
the relay POSTs to the real /search/documents, and the embedded search engine answers queries. The only thing
simulated is the outage: while "down", the relay's transport refuses every connection to the search service.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.embedded import INTERNAL_BASE_URL
from services.market.outbox.models import OutboxEvent
from services.market.worker import build_token_provider
from services.search.cli import run_reindex
from shared.outbox.relay import Relay, ingestion_document
from tests.conftest import Databases, Stack, running_stack
from tests.market.helpers import achievement_body, create_listing, demand_body, transition


class SearchOutage(httpx.AsyncBaseTransport):
    """Routes to the embedded app, except that the search service can be switched off (connection refused)."""

    def __init__(self, app: Any) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.search_up = True

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.search_up and request.url.path.startswith("/search"):
            raise httpx.ConnectError("search is down", request=request)
        return await self.inner.handle_async_request(request)


def make_relay(stack: Stack, transport: SearchOutage) -> tuple[Relay[OutboxEvent], httpx.AsyncClient]:
    market = stack.service_app("market")
    client = httpx.AsyncClient(transport=transport)
    relay = Relay(
        model=OutboxEvent,
        document_of=ingestion_document,
        sessionmaker=market.state.sessionmaker,
        client=client,
        target_url=f"{INTERNAL_BASE_URL}/search/documents",
        tokens=build_token_provider(stack.market_settings, transport=httpx.ASGITransport(app=stack.app)),
        base_backoff_seconds=0.001,
        max_backoff_seconds=0.001,
    )
    return relay, client


async def published_versions(stack: Stack, kind: str) -> dict[str, int]:
    """id → version of every listing market shows publicly as searchable."""
    found: dict[str, int] = {}
    statuses = ["published", "negotiating"] if kind == "achievements" else ["published"]
    for status in statuses:
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"status": status, "limit": 100}
            if cursor:
                params["cursor"] = cursor
            page = (await stack.client.get(f"/market/{kind}", params=params)).json()
            found.update({item["id"]: item["version"] for item in page["items"]})
            cursor = page["next_cursor"]
            if not cursor:
                break
    return found


async def indexed_versions(stack: Stack, kind: str) -> dict[str, int]:
    engine = stack.service_app("search").state.search_engine
    return dict(await engine.indexed_versions(kind))


class TestSearchFollowsMarket:
    async def test_published_listing_is_searchable_after_one_relay_round(self, stack: Stack, actors: Any) -> None:
        university = await actors.org_member(kind="university")
        created = await create_listing(stack, university, title="一种锂电池极片缺陷检测方法")
        assert (await transition(stack, university, "achievements", created["id"], "publish")).status_code == 200
        relay, client = make_relay(stack, SearchOutage(stack.app))
        async with client:
            assert await relay.drain() >= 2
        hits = (await stack.client.get("/search/achievements", params={"q": "极片"})).json()["hits"]
        assert [hit["id"] for hit in hits] == [created["id"]]

    async def test_outage_then_recovery_leaves_the_index_equal_to_market(self, stack: Stack, actors: Any) -> None:
        university = await actors.org_member(kind="university")
        enterprise = await actors.org_member(kind="enterprise")
        transport = SearchOutage(stack.app)
        relay, client = make_relay(stack, transport)
        async with client:
            # Search is down while market keeps working: listings are created, published, edited and withdrawn.
            transport.search_up = False
            ids = []
            for title in ("一种无人机机载多功能盒", "一种可拍照便携式实时语音播报端测摄像头", "待处理污水的膜过滤装置"):
                listing = await create_listing(stack, university, body=achievement_body(title=title, patents=[]))
                published = await transition(stack, university, "achievements", listing["id"], "publish")
                assert published.status_code == 200, published.text
                ids.append(listing["id"])
            current = await stack.client.get(f"/market/achievements/{ids[0]}", headers=university.headers)
            edited = await stack.client.patch(
                f"/market/achievements/{ids[0]}",
                json={"title": "一种无人机机载多功能数据盒"},
                headers={**university.headers, "If-Match": current.headers["etag"]},
            )
            assert edited.status_code == 200, edited.text
            assert (await transition(stack, university, "achievements", ids[1], "withdraw")).status_code == 200
            demand = await create_listing(stack, enterprise, "demands", body=demand_body())
            assert (await transition(stack, enterprise, "demands", demand["id"], "publish")).status_code == 200

            failed = await relay.run_once()
            assert failed.failed > 0
            assert failed.delivered == 0
            assert await indexed_versions(stack, "achievement") == {}

            # Search is back: the relay delivers everything, once, in order.
            transport.search_up = True
            for _ in range(20):
                if (await relay.run_once()).claimed == 0:
                    break

        for kind, market_kind in (("achievement", "achievements"), ("demand", "demands")):
            expected = await published_versions(stack, market_kind)
            assert await indexed_versions(stack, kind) == expected
        assert set(await indexed_versions(stack, "achievement")) == {ids[0], ids[2]}

        # Nothing stale: the edited title is what search finds; nothing private: contacts never reach the index.
        hits = (await stack.client.get("/search/achievements", params={"q": "无人机"})).json()["hits"]
        titles = {hit["title"] for hit in hits}
        assert "一种无人机机载多功能数据盒" in titles
        assert "一种无人机机载多功能盒" not in titles
        for query in ("028-85400000", "tto@example.edu.cn", "王老师", "刘迪"):
            assert (await stack.client.get("/search/achievements", params={"q": query})).json()["hits"] == []
        assert "contact" not in hits[0]


class TestReindexFromMarket:
    async def test_reindex_rebuilds_the_index_equal_to_market(self, stack: Stack, actors: Any) -> None:
        """`techmarket search reindex` pages market's real lists with a real service token and swaps the index."""
        university = await actors.org_member(kind="university")
        enterprise = await actors.org_member(kind="enterprise")
        for title in ("一种无人机机载多功能盒", "待处理污水的膜过滤装置"):
            listing = await create_listing(stack, university, body=achievement_body(title=title, patents=[]))
            assert (await transition(stack, university, "achievements", listing["id"], "publish")).status_code == 200
        await create_listing(stack, university, body=achievement_body(title="草稿不应被索引", patents=[]))
        demand = await create_listing(stack, enterprise, "demands", body=demand_body())
        assert (await transition(stack, enterprise, "demands", demand["id"], "publish")).status_code == 200
        # No relay ran: the index is empty until the rebuild.
        assert await indexed_versions(stack, "achievement") == {}

        settings = stack.search_settings.model_copy(
            update={"market_url": f"{INTERNAL_BASE_URL}/market", "auth_url": f"{INTERNAL_BASE_URL}/auth"}
        )
        reports = await run_reindex(
            settings,
            transport=httpx.ASGITransport(app=stack.app),
            show_progress=False,
            settle_seconds=0,
            replay_margin=dt.timedelta(0),
        )
        assert len(reports) == 2
        for kind, market_kind in (("achievement", "achievements"), ("demand", "demands")):
            assert await indexed_versions(stack, kind) == await published_versions(stack, market_kind)
        hits = (await stack.client.get("/search/achievements", params={"q": "膜过滤"})).json()["hits"]
        assert [hit["title"] for hit in hits] == ["待处理污水的膜过滤装置"]
        assert (await stack.client.get("/search/achievements", params={"q": "草稿"})).json()["hits"] == []


@pytest.fixture
async def relaying_stack(databases: Databases, tmp_path: Path) -> AsyncIterator[Stack]:
    """The embedded app as `make run` serves it: the outbox relay runs in the background."""
    async with running_stack(databases, tmp_path, market_overrides={"relay_enabled": True}) as stack:
        yield stack


class TestBackgroundRelay:
    async def test_published_listing_becomes_searchable_without_any_manual_step(self, relaying_stack: Stack) -> None:
        from tests.support.actors import Actors

        stack = relaying_stack
        actors = Actors(stack)
        try:
            university = await actors.org_member(kind="university")
            created = await create_listing(stack, university, body=achievement_body(title="一种锂电池极片缺陷检测方法"))
            published = await transition(stack, university, "achievements", created["id"], "publish")
            assert published.status_code == 200
            started = time.monotonic()
            # The relay wakes every MARKET_RELAY_INTERVAL_SECONDS (0.5 s): expect well under the 2 s the product
            # promises; the generous deadline only keeps a loaded CI machine from failing the run.
            while time.monotonic() - started < 10:
                hits = (await stack.client.get("/search/achievements", params={"q": "极片"})).json()["hits"]
                if hits:
                    break
                await asyncio.sleep(0.05)
            assert [hit["id"] for hit in hits] == [created["id"]]
        finally:
            await actors.aclose()
