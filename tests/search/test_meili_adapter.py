"""The Meilisearch adapter's requests, checked against FakeMeilisearch (a transport-level fake, not a server).

What is checked is what the documented API expects: settings before documents, waiting for tasks, the settings
body, documents carrying the pre-segmented sub-words, the search body (filter expressions, facets, sort, locales),
and the swap of a rebuilt index.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from meilisearch_python_sdk.errors import MeilisearchTaskFailedError

from services.search.documents.service import parse_fields, to_index_document
from services.search.engines.base import SearchQuery
from services.search.engines.meili import MAX_TOTAL_HITS, MeiliEngine, build_filter, make_client
from services.search.segment import segmenter
from tests.search.factories import achievement_fields
from tests.search.fake_meilisearch import FakeMeilisearch

LIVE = "test_achievements"


def make_engine(fake: FakeMeilisearch) -> MeiliEngine:
    client = make_client("http://meili.fake", fake.api_key, transport=fake.transport())
    return MeiliEngine(client, segmenter(), prefix="test_", task_timeout_ms=1000)


def document(doc_id: str | None = None, version: int = 1, **fields: Any) -> Any:
    made = parse_fields("achievement", achievement_fields(**fields))
    return to_index_document("achievement", doc_id or str(uuid.uuid4()), version, made)


class TestOpen:
    async def test_creates_indexes_and_applies_settings_before_any_document(self) -> None:
        fake = FakeMeilisearch()
        engine = make_engine(fake)
        await engine.open()
        await engine.apply("achievement", [document()], [])
        order = [(method, path) for method, path, _ in fake.requests if not path.startswith("/tasks")]
        assert order.index(("POST", "/indexes")) < order.index(("PATCH", f"/indexes/{LIVE}/settings"))
        assert order.index(("PATCH", f"/indexes/{LIVE}/settings")) < order.index(("POST", f"/indexes/{LIVE}/documents"))
        # Every task where order matters is waited for.
        assert len(fake.calls("GET", None)) >= len([c for c in fake.calls() if c[1].startswith("/tasks")])
        assert {c[1] for c in fake.calls("GET") if c[1].startswith("/tasks")} == {f"/tasks/{u}" for u in fake.tasks}
        await engine.close()

    async def test_settings_body(self) -> None:
        fake = FakeMeilisearch()
        engine = make_engine(fake)
        await engine.open()
        _, _, settings = fake.calls("PATCH", f"/indexes/{LIVE}/settings")[0]
        assert settings["searchableAttributes"] == ["title", "keywords", "search_tokens", "body"]
        assert {"technical_field", "region_city", "region_province", "trl", "modes", "amount_min_fen"} <= set(
            settings["filterableAttributes"]
        )
        assert settings["sortableAttributes"] == ["published_ts", "amount_min_fen"]
        assert settings["rankingRules"] == ["words", "typo", "proximity", "attribute", "sort", "exactness"]
        assert settings["localizedAttributes"] == [{"locales": ["cmn"], "attributePatterns": ["*"]}]
        assert settings["pagination"] == {"maxTotalHits": MAX_TOTAL_HITS}
        assert settings["typoTolerance"]["enabled"] is True
        assert settings["typoTolerance"]["minWordSizeForTypos"] == {"oneTypo": 5, "twoTypos": 9}
        await engine.close()

    async def test_an_existing_index_is_not_recreated(self) -> None:
        fake = FakeMeilisearch()
        fake.indexes[LIVE] = {}
        fake.indexes["test_demands"] = {}
        engine = make_engine(fake)
        await engine.open()
        assert fake.calls("POST", "/indexes") == []
        assert len(fake.calls("PATCH")) == 2  # settings are still (re)applied
        await engine.close()

    async def test_a_failed_settings_task_fails_startup(self) -> None:
        fake = FakeMeilisearch()
        fake.fail_task_types.add("settingsUpdate")
        engine = make_engine(fake)
        with pytest.raises(MeilisearchTaskFailedError):
            await engine.open()
        await engine.close()


class TestDocuments:
    async def test_documents_carry_sub_words_and_bigrams(self) -> None:
        fake = FakeMeilisearch()
        engine = make_engine(fake)
        await engine.open()
        doc = document(title="待处理污水的过滤装置", summary="安装简单", description=None, contact_phone="13800138000")
        await engine.apply("achievement", [doc], [])
        _, _, sent = fake.calls("POST", f"/indexes/{LIVE}/documents")[0]
        (body,) = sent
        tokens = body["search_tokens"].split()
        assert {"处理", "待处理", "简单", "安装"} <= set(tokens)
        assert body["id"] == doc.id
        assert body["region_city"] == "510100"
        assert body["modes"] == ["transfer", "license"]
        assert "13800138000" not in str(body)
        await engine.close()

    async def test_deletes_and_waits(self) -> None:
        fake = FakeMeilisearch()
        engine = make_engine(fake)
        await engine.open()
        await engine.apply("achievement", [], [("a", 2), ("b", 3)])
        _, _, ids = fake.calls("POST", f"/indexes/{LIVE}/documents/delete-batch")[0]
        assert ids == ["a", "b"]
        last_task = max(fake.tasks)
        assert fake.calls("GET", f"/tasks/{last_task}")
        await engine.close()

    async def test_indexed_versions_pages_through_documents(self) -> None:
        fake = FakeMeilisearch()
        engine = make_engine(fake)
        await engine.open()
        await engine.apply("achievement", [document("x", 4), document("y", 1)], [])
        assert await engine.indexed_versions("achievement") == {"x": 4, "y": 1}
        await engine.close()


class TestSearch:
    async def test_search_body(self) -> None:
        fake = FakeMeilisearch()
        fake.search_response = {
            "hits": [
                {
                    "id": "h1",
                    "card": {"title": "待处理污水"},
                    "snippet_source": "一种待处理污水的装置",
                    "_rankingScore": 0.91,
                }
            ],
            "estimatedTotalHits": 37,
            "facetDistribution": {"technical_field": {"environment": 30, "new_energy": 7}, "modes": {"license": 2}},
        }
        engine = make_engine(fake)
        await engine.open()
        query = SearchQuery(
            kind="achievement",
            q="处理",
            technical_field="environment",
            region="510000",
            trl_min=3,
            trl_max=7,
            amount_min_fen=100,
            mode="license",
            facets=("technical_field", "transfer_mode"),
            sort="relevance",
            limit=10,
            offset=20,
        )
        result = await engine.search(query, highlight=["处理"])
        _, _, body = fake.calls("POST", f"/indexes/{LIVE}/search")[0]
        assert body["q"] == "处理"
        assert body["filter"] == [
            'technical_field = "environment"',
            'region_province = "510000"',
            "trl >= 3",
            "trl <= 7",
            "amount_max_fen >= 100",
            'modes = "license"',
        ]
        assert body["facets"] == ["technical_field", "modes"]
        assert (body["limit"], body["offset"]) == (10, 20)
        assert body["locales"] == ["cmn"]
        assert body["matchingStrategy"] == "all"
        assert body["showRankingScore"] is True
        assert "sort" not in body or body["sort"] is None
        assert result.total == 37
        assert result.total_is_exact is False
        assert result.facets == {
            "technical_field": {"environment": 30, "new_energy": 7},
            "transfer_mode": {"license": 2},
        }
        (hit,) = result.hits
        assert (hit.id, hit.score) == ("h1", 0.91)
        assert hit.snippet == "一种待<em>处理</em>污水的装置"
        await engine.close()

    @pytest.mark.parametrize(
        ("sort", "q", "expected"),
        [
            ("newest", "电池", ["published_ts:desc"]),
            ("price", "", ["amount_min_fen:asc", "published_ts:desc"]),
            ("relevance", "", ["published_ts:desc"]),
        ],
    )
    async def test_sorts(self, sort: Any, q: str, expected: list[str]) -> None:
        fake = FakeMeilisearch()
        engine = make_engine(fake)
        await engine.open()
        await engine.search(SearchQuery(kind="demand", q=q, sort=sort), highlight=[])
        _, path, body = fake.calls("POST")[-1]
        assert path == "/indexes/test_demands/search"
        assert body["sort"] == expected
        await engine.close()

    def test_filter_values_are_quoted_as_json_strings(self) -> None:
        query = SearchQuery(kind="achievement", ip_type='a"b', owner_org_id="0193-x", region="510104")
        assert build_filter(query) == ['region_code = "510104"', 'ip_type = "a\\"b"', 'owner_org_id = "0193-x"']
        assert build_filter(SearchQuery(kind="achievement", region="510100")) == ['region_city = "510100"']


class TestRebuild:
    async def test_builds_a_new_index_with_settings_then_swaps_and_drops_the_old(self) -> None:
        fake = FakeMeilisearch()
        engine = make_engine(fake)
        await engine.open()
        await engine.apply("achievement", [document("old")], [])
        builder = await engine.begin_rebuild("achievement")
        (new_uid,) = [uid for uid in fake.indexes if uid.startswith(f"{LIVE}_rebuild_")]
        assert fake.calls("PATCH", f"/indexes/{new_uid}/settings")
        await builder.apply([document("new")], [])
        assert set(fake.indexes[LIVE]) == {"old"}  # the live index is untouched while building
        await builder.commit()
        _, _, swap = fake.calls("POST", "/swap-indexes")[0]
        assert swap == [{"indexes": [LIVE, new_uid], "rename": False}] or swap == [{"indexes": [LIVE, new_uid]}]
        assert set(fake.indexes[LIVE]) == {"new"}
        assert new_uid not in fake.indexes
        assert fake.calls("DELETE", f"/indexes/{new_uid}")
        await engine.close()

    async def test_abort_drops_the_new_index(self) -> None:
        fake = FakeMeilisearch()
        engine = make_engine(fake)
        await engine.open()
        builder = await engine.begin_rebuild("demand")
        await builder.abort()
        assert set(fake.indexes) == {LIVE, "test_demands"}
        assert fake.calls("POST", "/swap-indexes") == []
        await engine.close()
