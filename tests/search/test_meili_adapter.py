"""The Meilisearch adapter against FakeMeilisearch (a fake of the v1.50.0 API, not a server).

What the shared suite (test_engines.py) cannot show: the requests themselves, the server's refusals, failed and
canceled tasks, retries, error mapping, version guards under deliberate interleavings, rebuild leftovers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import threading
import uuid
from typing import Any

import httpx
import pytest

from services.search.documents.service import parse_fields, to_index_document
from services.search.engines import build_engine
from services.search.engines.base import (
    EngineAuthFailed,
    EngineRejected,
    EngineUnavailable,
    IndexDocument,
    SearchQuery,
)
from services.search.engines.embedded import EmbeddedEngine
from services.search.engines.meili import (
    MAX_TOTAL_HITS,
    MeiliEngine,
    build_filter,
    encode_word,
    index_settings,
    make_client,
    query_text,
)
from services.search.engines.meili_client import RetryPolicy
from services.search.engines.ranking import Distribution
from services.search.segment import QueryTerm, segmenter
from services.search.settings import SearchSettings
from tests.search.factories import achievement_fields
from tests.search.fake_meilisearch import FakeMeilisearch
from tests.search.fake_meilisearch.errors import ApiError
from tests.search.fake_meilisearch.index import Index
from tests.search.fake_meilisearch.settings import validate

LIVE = "test_achievements"


def make_engine(
    fake: FakeMeilisearch,
    *,
    api_key: str | None = None,
    timeout_ms: int = 2000,
    dimensions: int | None = None,
    attempts: int = 3,
    distribution: Distribution | None = None,
) -> MeiliEngine:
    client = make_client(
        "http://meili.fake",
        api_key if api_key is not None else fake.api_key,
        transport=fake.transport(),
        retry=RetryPolicy(attempts=attempts, base_delay_s=0.0),
        poll_max_s=0.001,
    )
    return MeiliEngine(
        client,
        segmenter(),
        prefix="test_",
        task_timeout_ms=timeout_ms,
        embedding_dimensions=dimensions,
        distribution=distribution,
    )


def document(doc_id: str | None = None, version: int = 1, **fields: Any) -> IndexDocument:
    made = parse_fields("achievement", achievement_fields(**fields))
    return to_index_document("achievement", doc_id or str(uuid.uuid4()), version, made)


async def live_versions(fake: FakeMeilisearch, uid: str = LIVE) -> dict[str, list[tuple[int, int]]]:
    """Every stored (version, deleted) per id, straight from the fake's state."""
    out: dict[str, list[tuple[int, int]]] = {}
    for body in fake.documents(uid):
        out.setdefault(body["id"], []).append((body["version"], body["deleted"]))
    return {k: sorted(v) for k, v in out.items()}


class TestSettings:
    def test_the_settings_body_is_valid_for_the_pinned_server(self) -> None:
        # The fake validates as v1.50.0 does (unknown fields refused, per-field error codes).
        assert validate(index_settings(None)) == index_settings(None)
        assert validate(index_settings(384))["embedders"] == {"default": {"source": "userProvided", "dimensions": 384}}

    def test_an_unknown_field_is_refused_with_the_servers_code(self) -> None:
        with pytest.raises(ApiError) as caught:
            validate({"typoTolerance": {"enabled": False, "disableOnNumbr": True}})
        assert caught.value.code == "invalid_settings_typo_tolerance"
        assert caught.value.message.startswith(
            "Unknown field `disableOnNumbr` inside `.typoTolerance`: did you mean `disableOnNumbers`? expected one of"
        )
        with pytest.raises(ApiError) as top:
            validate({"rankingRule": ["words"]})
        assert (top.value.code, top.value.status) == ("bad_request", 400)
        with pytest.raises(ApiError) as rule:
            validate({"rankingRules": ["words", "relevance"]})
        assert rule.value.code == "invalid_settings_ranking_rules"
        assert "`relevance` ranking rule is invalid" in rule.value.message

    def test_a_userprovided_embedder_needs_dimensions(self) -> None:
        with pytest.raises(ApiError) as caught:
            validate({"embedders": {"default": {"source": "userProvided"}}})
        assert caught.value.code == "invalid_settings_embedders"


class TestOpen:
    async def test_creates_indexes_with_their_settings_and_waits(self) -> None:
        fake = FakeMeilisearch()
        engine = make_engine(fake, dimensions=3)
        await engine.open()
        assert fake.indexes[LIVE].primary_key == "key"
        stored = fake.indexes[LIVE].settings
        assert stored["rankingRules"][0] == "sort"
        assert stored["faceting"] == {"maxValuesPerFacet": 100, "sortFacetValuesBy": {"*": "count"}}
        assert stored["pagination"] == {"maxTotalHits": MAX_TOTAL_HITS}
        assert stored["embedders"] == {"default": {"source": "userProvided", "dimensions": 3}}
        assert stored["stopWords"]
        assert all(set(word) <= set("0123456789abcdefghijklmnopqrstuvwxyz") for word in stored["stopWords"])
        assert all(task["status"] == "succeeded" for task in fake.tasks.values())
        await engine.close()

    async def test_an_existing_index_is_kept_and_its_settings_reapplied(self) -> None:
        fake = FakeMeilisearch()
        await make_engine(fake).open()
        again = make_engine(fake)
        await again.open()
        assert len(fake.calls("POST", "/indexes")) == 2  # created once per kind, by the first engine only
        assert len(fake.calls("PATCH")) == 4
        await again.close()

    async def test_an_index_of_the_old_adapter_is_refused_clearly(self) -> None:
        fake = FakeMeilisearch()
        fake.indexes[LIVE] = Index(LIVE, "id", "2026-01-01T00:00:00Z")
        engine = make_engine(fake)
        with pytest.raises(EngineRejected, match="primary key 'id'"):
            await engine.open()
        assert engine.client.http.is_closed

    async def test_a_failed_settings_task_fails_startup_and_closes_the_client(self) -> None:
        fake = FakeMeilisearch()
        fake.fail_next_task("settingsUpdate", "invalid_settings_typo_tolerance", "Unknown field `disableOnNumbers`")
        engine = make_engine(fake)
        with pytest.raises(EngineRejected) as caught:
            await engine.open()
        assert caught.value.code == "invalid_settings_typo_tolerance"
        assert engine.client.http.is_closed

    @pytest.mark.parametrize(("key", "code"), [("wrong", "invalid_api_key"), ("", "missing_authorization_header")])
    async def test_a_wrong_or_missing_key_is_an_auth_failure_not_a_parse_error(self, key: str, code: str) -> None:
        fake = FakeMeilisearch()
        engine = make_engine(fake, api_key=key)
        with pytest.raises(EngineAuthFailed) as caught:
            await engine.open()
        assert caught.value.code == code
        assert engine.client.http.is_closed

    def test_build_engine_sizes_the_embedder(self, tmp_path: Any) -> None:
        settings = SearchSettings(data_dir=tmp_path, meili_url="http://meili:7700")
        engine = build_engine(settings, segmenter(), embedding_dimensions=384)
        assert isinstance(engine, MeiliEngine)
        assert engine.embedding_dimensions == 384
        assert index_settings(384)["embedders"] == {"default": {"source": "userProvided", "dimensions": 384}}
        assert isinstance(build_engine(settings, segmenter()), MeiliEngine)

    async def test_an_unreachable_server_is_unavailable_after_retries(self) -> None:
        fake = FakeMeilisearch()
        fake.inject(exception=httpx.ConnectError, times=3)
        engine = make_engine(fake, attempts=3)
        with pytest.raises(EngineUnavailable, match="unreachable"):
            await engine.open()
        assert len(fake.requests) == 3
        assert engine.client.http.is_closed


class TestRetries:
    async def test_503_and_429_are_retried(self) -> None:
        fake = FakeMeilisearch()
        engine = make_engine(fake, attempts=3)
        await engine.open()
        fake.inject(status=503, path="/search")
        fake.inject(status=429, path="/search")
        result = await engine.search(SearchQuery(kind="achievement"), highlight=[])
        assert result.total == 0
        assert len(fake.calls("POST", "/search")) == 3
        await engine.close()

    async def test_a_read_timeout_is_retried_only_when_sending_twice_is_safe(self) -> None:
        fake = FakeMeilisearch()
        engine = make_engine(fake, attempts=3)
        await engine.open()
        fake.inject(exception=httpx.ReadTimeout, path="/search")
        await engine.search(SearchQuery(kind="achievement"), highlight=[])  # idempotent: retried
        builder = await engine.begin_rebuild("achievement")
        fake.inject(exception=httpx.ReadTimeout, path="/swap-indexes")
        with pytest.raises(EngineUnavailable):
            await builder.commit()  # a swap sent twice would swap back: not retried
        assert len(fake.calls("POST", "/swap-indexes")) == 1
        await engine.close()

    async def test_errors_past_the_retries_are_mapped(self) -> None:
        fake = FakeMeilisearch()
        engine = make_engine(fake, attempts=2)
        await engine.open()
        fake.inject(status=502, path="/search", times=2)
        with pytest.raises(EngineUnavailable):
            await engine.search(SearchQuery(kind="achievement"), highlight=[])
        with pytest.raises(EngineRejected) as caught:
            await engine.client.request("POST", f"/indexes/{LIVE}/search", json={"bogus": 1}, idempotent=True)
        assert caught.value.code == "bad_request"
        await engine.close()


class TestTasks:
    async def test_every_task_of_a_batch_is_checked(self) -> None:
        fake = FakeMeilisearch()
        engine = make_engine(fake)
        await engine.open()
        # The addition (first task) fails; the delete that follows succeeds: the batch must still fail.
        fake.fail_next_task("documentAdditionOrUpdate", "internal", "disk full")
        with pytest.raises(EngineRejected, match="disk full"):
            await engine.apply("achievement", [document("a")], [("b", 1)])
        fake.process()
        assert [t["status"] for t in fake.tasks.values()][-2:] == ["failed", "succeeded"]
        await engine.close()

    async def test_a_canceled_task_fails_at_once(self) -> None:
        fake = FakeMeilisearch()
        engine = make_engine(fake, timeout_ms=60_000)
        await engine.open()
        fake.pause()
        write = asyncio.create_task(engine.apply("achievement", [document("a")], []))
        await fake.until_queued(1)
        fake.cancel(fake.queued()[0]["uid"])
        fake.resume()
        with pytest.raises(EngineUnavailable, match="canceled"):
            await asyncio.wait_for(write, timeout=5)
        await engine.close()

    async def test_a_task_that_does_not_finish_times_out(self) -> None:
        fake = FakeMeilisearch()
        engine = make_engine(fake, timeout_ms=50)
        await engine.open()
        fake.pause()
        with pytest.raises(EngineUnavailable, match="still enqueued after 50 ms"):
            await engine.apply("achievement", [document("a")], [])
        await engine.close()

    async def test_a_userprovided_embedder_rejects_a_document_without_vectors(self) -> None:
        # The adapter sends "_vectors": {"default": null} for a pending vector; without it the server fails.
        fake = FakeMeilisearch()
        engine = make_engine(fake, dimensions=3)
        await engine.open()
        await engine.apply(
            "achievement", [document("a"), dataclasses.replace(document("b"), vector=(1.0, 0.0, 0.0))], []
        )
        assert {d["id"]: d["_vectors"] for d in fake.documents(LIVE)} == {
            "a": {"default": None},
            "b": {"default": [1.0, 0.0, 0.0]},
        }
        task = await engine.client.enqueue(
            "POST", f"/indexes/{LIVE}/documents", json=[{"key": "c_1", "id": "c"}], idempotent=True
        )
        with pytest.raises(EngineRejected) as caught:
            await engine.client.wait(task, timeout_ms=1000)
        assert caught.value.code == "vector_embedding_error"
        await engine.close()


class TestDocuments:
    async def test_documents_carry_encoded_words_and_no_private_field(self) -> None:
        fake = FakeMeilisearch()
        engine = make_engine(fake)
        await engine.open()
        doc = document(title="待处理污水的过滤装置", summary="安装简单", description=None, contact_phone="13800138000")
        await engine.apply("achievement", [doc], [])
        (body,) = fake.documents(LIVE)
        words = set(body["title_words"].split())
        assert {encode_word(w) for w in ("待处理", "处理", "污水", "过滤")} <= words
        assert encode_word("简单") in body["body_words"].split()
        assert (body["key"], body["id"], body["version"], body["deleted"]) == (f"{doc.id}_1", doc.id, 1, 0)
        assert body["modes"] == ["transfer", "license"]
        assert "13800138000" not in str(body)
        await engine.close()

    def test_encoding_keeps_prefixes(self) -> None:
        assert encode_word("处理器").startswith(encode_word("处理"))
        assert encode_word("a") == "002p"
        assert len(encode_word("𠀀")) == 4
        assert (
            query_text([QueryTerm("污水"), QueryTerm("处理", prefix=True)])
            == f"{encode_word('污水')} {encode_word('处理')}"
        )
        assert query_text([QueryTerm("污水")]).endswith(" ")  # not a prefix: a separator follows

    async def test_segmentation_runs_off_the_event_loop(self, monkeypatch: pytest.MonkeyPatch) -> None:
        fake = FakeMeilisearch()
        engine = make_engine(fake)
        await engine.open()
        threads: set[int] = set()
        original = engine.segmenter.index_tokens

        def spy(text: str) -> list[str]:
            threads.add(threading.get_ident())
            return original(text)

        monkeypatch.setattr(engine.segmenter, "index_tokens", spy)
        await engine.apply("achievement", [document("a")], [])
        assert threads
        assert threading.get_ident() not in threads
        await engine.close()

    async def test_indexed_versions_leave_out_tombstones(self) -> None:
        fake = FakeMeilisearch()
        engine = make_engine(fake)
        await engine.open()
        await engine.apply("achievement", [document("x", 4), document("y", 1)], [("z", 2)])
        assert await engine.indexed_versions("achievement") == {"x": 4, "y": 1}
        assert await live_versions(fake) == {"x": [(4, 0)], "y": [(1, 0)], "z": [(2, 1)]}
        await engine.close()


class TestVersionGuards:
    async def test_an_older_upsert_never_replaces_a_newer_one(self) -> None:
        fake = FakeMeilisearch()
        engine = make_engine(fake)
        await engine.open()
        await engine.apply("achievement", [document("x", 3, title="第三版")], [])
        await engine.apply("achievement", [document("x", 2, title="第二版")], [])
        assert await live_versions(fake) == {"x": [(3, 0)]}
        await engine.close()

    async def test_a_delete_is_kept_against_an_older_upsert_and_loses_to_a_newer_one(self) -> None:
        fake = FakeMeilisearch()
        engine = make_engine(fake)
        await engine.open()
        await engine.apply("achievement", [document("x", 1)], [])
        await engine.apply("achievement", [], [("x", 3)])
        await engine.apply("achievement", [document("x", 2)], [])  # a replay read before the delete
        assert await live_versions(fake) == {"x": [(3, 1)]}
        assert await engine.indexed_versions("achievement") == {}
        await engine.apply("achievement", [document("x", 4)], [])
        assert await live_versions(fake) == {"x": [(4, 0)]}
        await engine.apply("achievement", [], [("x", 2)])  # an older delete
        assert await engine.indexed_versions("achievement") == {"x": 4}
        await engine.close()

    async def test_the_older_write_processed_last_is_removed_by_its_own_writer(self) -> None:
        # Worst order for a naive adapter: the newer writer finishes first; the older one's addition is processed
        # after the newer writer's cleanup. The older writer's read-back sees both versions and removes its own.
        fake = FakeMeilisearch()
        engine = make_engine(fake)
        await engine.open()
        await engine.apply("achievement", [document("x", 3)], [])
        fake.pause()
        stale = asyncio.create_task(engine.apply("achievement", [document("x", 2)], []))
        await fake.until_queued(2)
        fake.process()
        assert {b["version"] for b in fake.documents(LIVE)} == {2, 3}  # both, until the read-back
        fake.resume()
        await stale
        assert await live_versions(fake) == {"x": [(3, 0)]}
        await engine.close()

    @pytest.mark.parametrize("seed", range(16))
    async def test_any_interleaving_of_relay_and_reindex_ends_with_the_newest_versions(self, seed: int) -> None:
        """Writers (relay batches, reindex pages and replays) on the same ids run concurrently while the fake runs
        tasks at random moments; once all have returned, each id holds its newest version (or nothing)."""
        rng = random.Random(seed)
        fake = FakeMeilisearch()
        engine = make_engine(fake)
        await engine.open()
        ids = ["p", "q", "r"]
        # A version is one event of market's: an update or a removal, the same whenever it is (re)delivered.
        removal = {(doc_id, version): rng.random() < 0.3 for doc_id in ids for version in range(1, 10)}
        batches: list[tuple[list[IndexDocument], list[tuple[str, int]]]] = []
        for _ in range(6):
            upserts, deletes = [], []
            for doc_id in rng.sample(ids, rng.randint(1, 3)):
                version = rng.randint(1, 9)
                if removal[doc_id, version]:
                    deletes.append((doc_id, version))
                else:
                    upserts.append(document(doc_id, version))
            batches.append((upserts, deletes))
        newest: dict[str, tuple[int, bool]] = {}
        for upserts, deletes in batches:
            for doc in upserts:
                if doc.id not in newest or doc.version > newest[doc.id][0]:
                    newest[doc.id] = (doc.version, True)
            for doc_id, version in deletes:
                if doc_id not in newest or version >= newest[doc_id][0]:
                    newest[doc_id] = (version, False)
        fake.pause()
        writers = [asyncio.create_task(engine.apply("achievement", up, de)) for up, de in batches]
        while not all(w.done() for w in writers):
            for _ in range(rng.randint(0, 3)):
                fake.step()
            await asyncio.sleep(rng.choice([0, 0, 0.001]))
        for writer in writers:
            writer.result()
        fake.process()
        expected = {doc_id: version for doc_id, (version, live) in newest.items() if live}
        assert await engine.indexed_versions("achievement") == expected
        stored = await live_versions(fake)
        assert all(len(versions) == 1 for versions in stored.values()), stored
        await engine.close()


class TestSearchRequests:
    async def test_search_body(self) -> None:
        fake = FakeMeilisearch()
        engine = make_engine(fake, dimensions=3)
        await engine.open()
        query = SearchQuery(
            kind="achievement",
            q="污水处理设备",
            technical_field="environment",
            region="510000",
            trl_min=3,
            mode="license",
            exclude_owner_org_id="org-1",
            exclude_ids=("a", "b"),
            facets=("technical_field", "transfer_mode"),
            matching="frequency",
            limit=10,
            offset=20,
            semantic_ratio=0.3,
            vector=(0.0, 1.0, 0.0),
        )
        await engine.search(query, highlight=[])
        _, _, body = fake.calls("POST", f"/indexes/{LIVE}/search")[0]
        words = [t.word for t in segmenter().query_terms("污水处理设备")]
        assert body["q"] == " ".join(encode_word(w) for w in words)
        assert body["filter"] == [
            "deleted = 0",
            'technical_field = "environment"',
            'region_province = "510000"',
            "trl >= 3",
            'modes = "license"',
            'owner_org_id != "org-1"',
            'NOT id IN ["a", "b"]',
        ]
        assert body["facets"] == ["technical_field", "modes"]
        assert (body["limit"], body["offset"], body["matchingStrategy"]) == (10, 20, "frequency")
        assert body["hybrid"] == {"embedder": "default", "semanticRatio": 0.3}
        assert body["vector"] == [0.0, 1.0, 0.0]
        assert body["locales"] == ["eng"]
        assert body["showRankingScore"] is True
        assert "sort" not in body
        await engine.close()

    @pytest.mark.parametrize(
        ("sort", "q", "expected"),
        [
            ("newest", "电池", ["published_ts:desc"]),
            ("price", "", ["amount_min_fen:asc", "published_ts:desc"]),
            ("relevance", "", ["published_ts:desc"]),
            ("relevance", "电池", None),
        ],
    )
    async def test_sorts(self, sort: Any, q: str, expected: list[str] | None) -> None:
        fake = FakeMeilisearch()
        engine = make_engine(fake)
        await engine.open()
        await engine.search(SearchQuery(kind="demand", q=q, sort=sort), highlight=[])
        _, path, body = fake.calls("POST")[-1]
        assert path == "/indexes/test_demands/search"
        assert body.get("sort") == expected
        await engine.close()

    def test_filter_values_are_quoted_as_json_strings(self) -> None:
        query = SearchQuery(kind="achievement", ip_type='a"b', owner_org_id="0193-x", region="510104")
        assert build_filter(query) == [
            "deleted = 0",
            'region_code = "510104"',
            'ip_type = "a\\"b"',
            'owner_org_id = "0193-x"',
        ]

    async def test_a_filter_the_server_refuses_is_a_rejection(self) -> None:
        fake = FakeMeilisearch()
        engine = make_engine(fake)
        await engine.open()
        with pytest.raises(EngineRejected) as caught:
            await engine.client.request("POST", f"/indexes/{LIVE}/search", json={"filter": "card = 1"}, idempotent=True)
        assert caught.value.code == "invalid_search_filter"
        assert "Attribute `card` is not filterable." in str(caught.value)
        await engine.close()


class TestTotals:
    async def test_browsing_more_than_1100_documents_counts_them_all(self) -> None:
        fake = FakeMeilisearch()
        engine = make_engine(fake)
        await engine.open()
        base = document("seed", title="批量成果")
        docs = [dataclasses.replace(base, id=f"d{i}") for i in range(1200)]
        for start in range(0, len(docs), 400):
            await engine.apply("achievement", docs[start : start + 400], [])
        result = await engine.search(SearchQuery(kind="achievement", limit=1), highlight=[])
        assert (result.total, result.total_is_exact) == (1200, True)
        await engine.close()


class TestRebuild:
    async def test_builds_a_new_index_then_swaps_and_drops_the_old(self) -> None:
        fake = FakeMeilisearch()
        engine = make_engine(fake)
        await engine.open()
        await engine.apply("achievement", [document("old")], [])
        builder = await engine.begin_rebuild("achievement")
        (new_uid,) = [uid for uid in fake.indexes if uid.startswith(f"{LIVE}_rebuild_")]
        assert fake.indexes[new_uid].settings["rankingRules"][0] == "sort"
        await builder.apply([document("new")], [])
        assert await engine.indexed_versions("achievement") == {"old": 1}
        await builder.commit()
        _, _, swap = fake.calls("POST", "/swap-indexes")[0]
        assert swap == [{"indexes": [LIVE, new_uid], "rename": False}]
        assert await engine.indexed_versions("achievement") == {"new": 1}
        assert new_uid not in fake.indexes
        await engine.close()

    async def test_a_rebuild_left_behind_is_removed_by_the_next_one(self) -> None:
        fake = FakeMeilisearch()
        engine = make_engine(fake)
        await engine.open()
        first = await engine.begin_rebuild("achievement")
        fake.inject(status=400, method="DELETE")  # the drop after the swap fails (a crash would do the same)
        await first.commit()
        leftovers = [uid for uid in fake.indexes if uid.startswith(f"{LIVE}_rebuild_")]
        assert len(leftovers) == 1
        second = await engine.begin_rebuild("achievement")
        assert leftovers[0] not in fake.indexes
        await second.abort()
        assert sorted(fake.indexes) == [LIVE, "test_demands"]
        await engine.close()


class TestSemantic:
    async def test_a_distribution_recentres_semantic_scores_as_the_embedded_engine_does(self, tmp_path: Any) -> None:
        distribution = Distribution(mean=0.9, sigma=0.05)
        fake = FakeMeilisearch()
        meili = make_engine(fake, dimensions=3, distribution=distribution)
        embedded = EmbeddedEngine(tmp_path / "index", segmenter(), distribution=distribution)
        await meili.open()
        await embedded.open()
        assert fake.indexes[LIVE].settings["embedders"]["default"]["distribution"] == {"mean": 0.9, "sigma": 0.05}
        vectors = {"视觉缺陷检测": (1.0, 0.1, 0.0), "相机缺陷成像": (0.9, 0.0, 0.3), "电池缺陷检测": (0.1, 1.0, 0.0)}
        docs = [dataclasses.replace(document(title=title), vector=vector) for title, vector in vectors.items()]
        for engine in (meili, embedded):
            await engine.apply("achievement", docs, [])
        query = SearchQuery(kind="achievement", q="缺陷", semantic_ratio=1.0, vector=(1.0, 0.0, 0.0))
        answers = [await engine.search(query, highlight=[]) for engine in (meili, embedded)]
        (meili_hits, embedded_hits) = ([(h.id, round(h.score or 0.0, 5)) for h in a.hits] for a in answers)
        assert meili_hits == embedded_hits
        assert meili_hits[0][1] == 1.0  # the best is re-centred past 1 and clamped
        await meili.close()
        await embedded.close()
