"""`techmarket search reindex` against a fake market service (and a fake auth token endpoint).

FakeMarket stands in for the market and auth services over httpx.MockTransport: it serves the documented list
shape ``{items, next_cursor}`` page by page and issues client_credentials tokens. It is a fake, not market.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.search.cli import run_reindex
from services.search.documents.schemas import IngestRequest
from services.search.documents.service import indexed_documents, ingest
from services.search.engines.base import SearchQuery
from services.search.engines.embedded import EmbeddedEngine
from services.search.segment import segmenter
from services.search.settings import SearchSettings
from shared.db import create_engine, create_sessionmaker
from shared.ids import new_id
from tests.conftest import Databases
from tests.search.factories import achievement_fields, delete_op, demand_fields, upsert_op


class FakeMarket:
    """A fake of market's public lists and of auth's /token, recording what the reindexer asked."""

    def __init__(self, achievements: list[dict[str, Any]], demands: list[dict[str, Any]], page: int = 2) -> None:
        self.lists = {"/market/achievements": achievements, "/market/demands": demands}
        self.page = page
        self.requests: list[httpx.Request] = []
        self.token_requests: list[httpx.Request] = []
        self.tokens_issued = 0
        self.reject_next_token_once = False

    def token(self, request: httpx.Request) -> httpx.Response:
        self.token_requests.append(request)
        self.tokens_issued += 1
        return httpx.Response(
            200, json={"access_token": f"token-{self.tokens_issued}", "token_type": "Bearer", "expires_in": 900}
        )

    def transports(self) -> dict[str, Any]:
        return {"transport": httpx.MockTransport(self.handler)}

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            return self.token(request)
        self.requests.append(request)
        items = self.lists.get(request.url.path)
        if items is None:
            return httpx.Response(404)
        if self.reject_next_token_once:
            self.reject_next_token_once = False
            return httpx.Response(401)
        assert request.headers["authorization"].startswith("Bearer token-")
        status = request.url.params["status"]
        if request.url.path == "/market/demands" and status != "published":
            return httpx.Response(422, json={"errors": [{"field": "status"}]})
        selected = [item for item in items if item["status"] == status]
        start = int(request.url.params.get("cursor", "0"))
        chunk = selected[start : start + self.page]
        following = start + self.page
        return httpx.Response(
            200, json={"items": chunk, "next_cursor": str(following) if following < len(selected) else None}
        )


# Tests run the steps within milliseconds of each other; no clock-skew margin or settling pause is needed.
QUICK: dict[str, Any] = {"show_progress": False, "settle_seconds": 0, "replay_margin": dt.timedelta(0)}


def listed(fields: dict[str, Any], *, version: int = 1, **private: Any) -> dict[str, Any]:
    """An item as market's public list shows it: id, version and the entity's fields."""
    return {"id": str(new_id()), "version": version, **fields, **private}


@pytest.fixture
def settings(databases: Databases, tmp_path: Path) -> SearchSettings:
    return SearchSettings(
        environment="test",
        data_dir=tmp_path,
        database_url=databases.urls["search"],
        market_url="http://market.fake/market",
        auth_url="http://auth.fake/auth",
        engine="embedded",
    )


async def open_engine(settings: SearchSettings) -> EmbeddedEngine:
    engine = EmbeddedEngine(settings.resolved_index_dir, segmenter())
    await engine.open()
    return engine


async def titles(engine: EmbeddedEngine, kind: Any = "achievement") -> set[str]:
    result = await engine.search(SearchQuery(kind=kind, limit=100), highlight=[])
    return {hit.card["title"] for hit in result.hits}


class TestReindex:
    async def test_builds_from_every_page_and_swaps(self, settings: SearchSettings) -> None:
        achievements = [listed(achievement_fields(title=f"成果{i}号 智能传感器"), version=i + 1) for i in range(5)] + [
            listed(achievement_fields(title="议价中的成果", status="negotiating"))
        ]
        demands = [listed(demand_fields(title="需求一 锂电池")), listed(demand_fields(title="需求二 芯片"))]
        fake = FakeMarket(achievements, demands)
        engine = await open_engine(settings)
        reports = await run_reindex(settings, **fake.transports(), **QUICK)
        assert [(r.kind, r.listed, r.indexed, r.invalid) for r in reports] == [
            ("achievement", 6, 6, 0),
            ("demand", 2, 2, 0),
        ]
        assert await titles(engine) == {*(f"成果{i}号 智能传感器" for i in range(5)), "议价中的成果"}
        assert await titles(engine, "demand") == {"需求一 锂电池", "需求二 芯片"}
        assert await indexed_documents(engine=engine, kind="achievement") == {
            item["id"]: item["version"] for item in achievements
        }
        listing = [r for r in fake.requests if r.url.path == "/market/achievements"]
        assert [dict(r.url.params) for r in listing[:3]] == [
            {"status": "published", "limit": "100"},
            {"status": "published", "limit": "100", "cursor": "2"},
            {"status": "published", "limit": "100", "cursor": "4"},
        ]
        (token_request,) = fake.token_requests
        assert str(token_request.url) == "http://auth.fake/auth/token"
        body = token_request.content.decode()
        assert "grant_type=client_credentials" in body
        assert "scope=market%3Aread" in body
        basic = base64.b64decode(token_request.headers["authorization"].removeprefix("Basic ")).decode()
        assert basic.startswith("search-indexer:")
        await engine.close()

    async def test_replaces_the_live_index(self, settings: SearchSettings) -> None:
        engine = await open_engine(settings)
        first = FakeMarket([listed(achievement_fields(title="旧的成果"))], [])
        await run_reindex(settings, **first.transports(), **QUICK)
        assert await titles(engine) == {"旧的成果"}
        second = FakeMarket([listed(achievement_fields(title="新的成果"))], [])
        await run_reindex(settings, **second.transports(), **QUICK)
        assert await titles(engine) == {"新的成果"}  # the running engine switched generations by itself
        files = sorted(p.name for p in settings.resolved_index_dir.glob("achievement-*.sqlite"))
        assert len(files) == 1  # the previous generation was removed
        await engine.close()

    async def test_private_fields_of_listed_items_are_dropped(self, settings: SearchSettings) -> None:
        item = listed(achievement_fields(), contact_phone="13800138000", internal_notes="内部备注保密")
        fake = FakeMarket([item], [])
        await run_reindex(settings, **fake.transports(), **QUICK)
        engine = await open_engine(settings)
        result = await engine.search(SearchQuery(kind="achievement", q="内部备注"), highlight=[])
        assert result.total == 0
        (hit,) = (await engine.search(SearchQuery(kind="achievement"), highlight=[])).hits
        assert "contact_phone" not in hit.card
        assert "13800138000" not in str(hit.card)
        await engine.close()

    async def test_versions_and_tombstones_of_the_relay_win(self, settings: SearchSettings) -> None:
        doc_id, gone_id = new_id(), new_id()
        database = create_engine(settings.resolved_database_url)
        sessionmaker = create_sessionmaker(database)
        engine = await open_engine(settings)
        # The relay was faster than the listing: version 3 ingested, and a deletion recorded.
        async with sessionmaker() as session:
            batch = IngestRequest.model_validate(
                {
                    "documents": [
                        upsert_op(id=doc_id, version=3, title="第三版标题"),
                        delete_op("achievement", gone_id, 2),
                    ]
                }
            )
            await ingest(session=session, engine=engine, batch=batch)
            await session.commit()
        stale = {**listed(achievement_fields(title="第二版标题"), version=2), "id": str(doc_id)}
        resurrected = {**listed(achievement_fields(title="已删除的成果"), version=1), "id": str(gone_id)}
        fake = FakeMarket([stale, resurrected], [])
        await run_reindex(settings, **fake.transports(), **QUICK)
        assert await titles(engine) == {"第三版标题"}
        assert await indexed_documents(engine=engine, kind="achievement") == {str(doc_id): 3}
        await engine.close()
        await database.dispose()

    async def test_a_rejected_token_is_renewed_once(self, settings: SearchSettings) -> None:
        fake = FakeMarket([listed(achievement_fields())], [])
        fake.reject_next_token_once = True
        await run_reindex(
            settings,
            kinds=["achievement"],
            **fake.transports(),
            **QUICK,
        )
        assert fake.tokens_issued == 2
        engine = await open_engine(settings)
        assert len(await titles(engine)) == 1
        await engine.close()

    async def test_a_failing_market_leaves_the_live_index_untouched(self, settings: SearchSettings) -> None:
        engine = await open_engine(settings)
        first = FakeMarket([listed(achievement_fields(title="在线的成果"))], [])
        await run_reindex(settings, **first.transports(), **QUICK)

        down = FakeMarket([], [])
        # Auth still answers; every market page is a 503.
        transports = {
            "transport": httpx.MockTransport(
                lambda r: down.token(r) if r.url.path.endswith("/token") else httpx.Response(503)
            )
        }
        with pytest.raises(httpx.HTTPStatusError):
            await run_reindex(settings, **transports, **QUICK)
        assert await titles(engine) == {"在线的成果"}
        assert len(list(settings.resolved_index_dir.glob("achievement-*.sqlite"))) == 1
        await engine.close()

    async def test_invalid_items_are_skipped_and_counted(self, settings: SearchSettings) -> None:
        good = listed(achievement_fields(title="合格的成果"))
        bad = listed(achievement_fields(trl=42))
        no_id = {k: v for k, v in listed(achievement_fields()).items() if k != "id"}
        fake = FakeMarket([good, bad, no_id], [])
        (report,) = await run_reindex(
            settings,
            kinds=["achievement"],
            **fake.transports(),
            **QUICK,
        )
        assert (report.listed, report.indexed, report.invalid) == (3, 1, 2)
        engine = await open_engine(settings)
        assert list(await indexed_documents(engine=engine, kind="achievement")) == [str(uuid.UUID(good["id"]))]
        await engine.close()


class TestReindexCommand:
    def test_is_registered_and_reports_per_kind(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        from typer.testing import CliRunner

        from services import cli
        from services.search import cli as search_cli
        from services.search.reindex.service import ReindexReport

        seen: dict[str, Any] = {}

        async def fake_run(settings: SearchSettings, *, kinds: list[str]) -> list[ReindexReport]:
            seen["kinds"] = kinds
            return [ReindexReport(kind="demand", listed=3, indexed=2, invalid=1, replayed=0)]

        monkeypatch.setattr(search_cli, "run_reindex", fake_run)
        monkeypatch.setenv("DATA_DIR", str(tmp_path))
        result = CliRunner().invoke(cli.app, ["search", "reindex", "--kind", "demand"])
        assert result.exit_code == 0, result.output
        assert seen["kinds"] == ["demand"]
        assert "demands: 3 listed, 2 indexed, 1 invalid" in result.output

    def test_an_unknown_kind_is_refused(self) -> None:
        from typer.testing import CliRunner

        from services import cli

        result = CliRunner().invoke(cli.app, ["search", "reindex", "--kind", "contracts"])
        assert result.exit_code == 2
        assert "contracts" in result.output
