"""GET /search/achievements and GET /search/demands: Chinese matching, filters, facets, sort, pages, bad input."""

from __future__ import annotations

from typing import Any

import pytest

from services.search.engines.errors import EngineRejected, EngineUnavailable
from shared.ids import new_id
from tests.conftest import Stack
from tests.search.factories import upsert_op
from tests.search.test_ingestion import ingest, search
from tests.support.problems import assert_problem

OWNER = str(new_id())


async def seed(stack: Stack, actors: Any) -> dict[str, dict[str, Any]]:
    """Four achievements and two demands with distinct filter values."""
    relay = await actors.service_client(scopes=["search:ingest"])
    no_text = {"description": None}
    docs = {
        "sewage": upsert_op(
            **no_text,
            title="待处理污水的生物过滤装置",
            summary="一种针对待处理污水的生物过滤装置，安装简单。",
            technical_field="environment",
            region_code="510104",
            trl=6,
            ip_type="invention_patent",
            transfer_modes=["transfer"],
            price={"kind": "fixed", "min_fen": 30_000_000, "max_fen": 30_000_000},
            owner_org_id=OWNER,
            published_at="2026-01-10T00:00:00Z",
        ),
        "drone": upsert_op(
            **no_text,
            title="无人机电力巡检图像处理方法",
            summary="利用深度学习对巡检图像进行处理，识别输电线路缺陷。",
            keywords=["无人机", "图像识别"],
            technical_field="electronic_information",
            region_code="510700",
            trl=4,
            ip_type="invention_patent",
            transfer_modes=["license", "transfer"],
            price={"kind": "range", "min_fen": 50_000_000, "max_fen": 90_000_000},
            published_at="2026-02-10T00:00:00Z",
        ),
        "battery": upsert_op(
            **no_text,
            title="固态锂电池电解质材料",
            summary="一种高离子电导率的固态电解质，适用于动力电池。",
            keywords=["锂电池"],
            technical_field="new_materials",
            region_code="500112",
            trl=3,
            ip_type="utility_model",
            transfer_modes=["license"],
            price={"kind": "negotiable"},
            published_at="2026-03-10T00:00:00Z",
        ),
        "tunnel": upsert_op(
            **no_text,
            title="隧道衬砌裂缝智能检测系统",
            summary="基于图像的隧道衬砌裂缝检测，部署方便，安装简单。",
            technical_field="modern_transportation",
            region_code="510100",
            trl=7,
            ip_type="software_copyright",
            transfer_modes=["equity"],
            price={"kind": "range", "min_fen": 1_000_000, "max_fen": 5_000_000},
            published_at="2026-04-10T00:00:00Z",
        ),
        "need_battery": upsert_op(
            "demand",
            title="求购动力电池回收处理技术",
            description="需要退役动力电池的拆解与回收处理工艺。",
            technical_field="environment",
            region_code="500112",
            desired_trl=6,
            cooperation_modes=["transfer"],
            budget={"kind": "range", "min_fen": 100_000_000, "max_fen": 300_000_000},
        ),
        "need_chip": upsert_op(
            "demand",
            title="芯片封装散热方案",
            description="寻求高功率芯片封装的散热解决方案。",
            technical_field="electronic_information",
            region_code="510100",
            desired_trl=4,
            cooperation_modes=["joint_development"],
            budget={"kind": "range", "min_fen": 5_000_000, "max_fen": 10_000_000},
        ),
    }
    response = await ingest(stack, relay.headers, *docs.values())
    assert response.status_code == 200, response.text
    return docs


def ids(body: dict[str, Any]) -> list[str]:
    return [hit["id"] for hit in body["hits"]]


class TestSearchAchievements:
    async def test_a_two_character_word_finds_longer_words(self, stack: Stack, actors: Any) -> None:
        docs = await seed(stack, actors)
        assert set(ids(await search(stack, q="处理"))) == {docs["sewage"]["id"], docs["drone"]["id"]}
        assert set(ids(await search(stack, q="简单"))) == {docs["sewage"]["id"], docs["tunnel"]["id"]}

    async def test_two_words_must_both_match_with_matching_all(self, stack: Stack, actors: Any) -> None:
        docs = await seed(stack, actors)
        assert ids(await search(stack, q="图像 隧道", matching="all")) == [docs["tunnel"]["id"]]
        assert ids(await search(stack, q="无人机图像", matching="all")) == [docs["drone"]["id"]]

    async def test_by_default_documents_with_more_words_come_first_then_the_last_word_is_dropped(
        self, stack: Stack, actors: Any
    ) -> None:
        docs = await seed(stack, actors)
        body = await search(stack, q="图像 隧道")
        # Both hold 图像; only the tunnel system holds 隧道 too. The default strategy is Meilisearch's `last`.
        assert ids(body) == [docs["tunnel"]["id"], docs["drone"]["id"]]
        assert (body["matching"], body["query_words"]) == ("last", ["图像", "隧道"])
        assert body["hits"][0]["matched_terms"] == ["图像", "隧道"]
        assert body["hits"][1]["matched_terms"] == ["图像"]
        assert 1 >= body["hits"][0]["score"] > body["hits"][1]["score"] > 0
        # `last` drops words from the end only: a document without the first word is no match.
        assert ids(await search(stack, q="隧道 无人机")) == [docs["tunnel"]["id"]]
        # `frequency` drops the most frequent word first: 图像 (in two documents) before 隧道 (in one).
        assert ids(await search(stack, q="图像 隧道", matching="frequency")) == [docs["tunnel"]["id"]]

    async def test_a_need_written_as_a_sentence_finds_by_its_topic_words(self, stack: Stack, actors: Any) -> None:
        docs = await seed(stack, actors)
        body = await search(stack, q="寻求图像识别方面的技术合作，用于输电线路缺陷检测")
        assert body["query_words"] == ["图像识别", "输电", "线路", "缺陷", "检测"]
        assert ids(body)[0] == docs["drone"]["id"]

    async def test_a_trailing_half_word_does_not_empty_the_result(self, stack: Stack, actors: Any) -> None:
        docs = await seed(stack, actors)
        assert ids(await search(stack, q="隧道衬砌裂")) == [docs["tunnel"]["id"]]
        assert ids(await search(stack, q="固态锂电", matching="all")) == [docs["battery"]["id"]]

    async def test_title_matches_rank_first_and_scores_are_given(self, stack: Stack, actors: Any) -> None:
        docs = await seed(stack, actors)
        body = await search(stack, q="图像")
        assert set(ids(body)) == {docs["drone"]["id"], docs["tunnel"]["id"]}
        assert ids(body)[0] == docs["drone"]["id"]  # 图像 is in its title; only in the tunnel summary
        assert body["hits"][0]["score"] > body["hits"][1]["score"] > 0

    async def test_snippet_highlights_the_match(self, stack: Stack, actors: Any) -> None:
        await seed(stack, actors)
        hit = (await search(stack, q="处理", technical_field="environment"))["hits"][0]
        assert "待<em>处理</em>污水" in hit["snippet"]

    async def test_a_card_carries_the_listing_fields(self, stack: Stack, actors: Any) -> None:
        docs = await seed(stack, actors)
        (hit,) = (await search(stack, q="电解质"))["hits"]
        assert hit["id"] == docs["battery"]["id"]
        assert hit["technical_field"] == "new_materials"
        assert hit["trl"] == 3
        assert hit["transfer_modes"] == ["license"]
        assert hit["price"] == {"kind": "negotiable", "min_fen": None, "max_fen": None}
        assert hit["owner_org_name"] == "四川大学"
        assert hit["status"] == "published"
        assert "description" not in hit

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"technical_field": "environment"}, {"sewage"}),
            ({"region": "510000"}, {"sewage", "drone", "tunnel"}),
            ({"region": "510100"}, {"sewage", "tunnel"}),
            ({"region": "510104"}, {"sewage"}),
            ({"trl_min": 4, "trl_max": 6}, {"sewage", "drone"}),
            ({"price_min_fen": 40_000_000}, {"drone"}),
            ({"price_max_fen": 30_000_000}, {"sewage", "tunnel"}),
            ({"ip_type": "utility_model"}, {"battery"}),
            ({"transfer_mode": "transfer"}, {"sewage", "drone"}),
            ({"owner_org": OWNER}, {"sewage"}),
            ({"q": "处理", "transfer_mode": "license"}, {"drone"}),
        ],
    )
    async def test_filters(self, stack: Stack, actors: Any, params: dict[str, Any], expected: set[str]) -> None:
        docs = await seed(stack, actors)
        body = await search(stack, **params)
        assert set(ids(body)) == {docs[name]["id"] for name in expected}
        assert body["total"] == len(expected)

    async def test_facet_counts(self, stack: Stack, actors: Any) -> None:
        await seed(stack, actors)
        body = await search(stack, facets="technical_field,region,transfer_mode,trl,ip_type")
        assert body["facets"]["technical_field"] == {
            "electronic_information": 1,
            "new_materials": 1,
            "environment": 1,
            "modern_transportation": 1,
        }
        assert body["facets"]["region"] == {"510100": 2, "510700": 1, "500100": 1}
        assert body["facets"]["transfer_mode"] == {"transfer": 2, "license": 2, "equity": 1}
        assert body["facets"]["trl"] == {"3": 1, "4": 1, "6": 1, "7": 1}
        assert body["facets"]["ip_type"] == {"invention_patent": 2, "utility_model": 1, "software_copyright": 1}
        filtered = await search(stack, q="简单", facets="technical_field")
        assert filtered["facets"] == {"technical_field": {"environment": 1, "modern_transportation": 1}}

    async def test_sorts(self, stack: Stack, actors: Any) -> None:
        docs = await seed(stack, actors)
        newest = await search(stack, sort="newest")
        assert ids(newest) == [docs[n]["id"] for n in ("tunnel", "battery", "drone", "sewage")]
        assert ids(await search(stack)) == ids(newest)  # no q: relevance means newest
        by_price = await search(stack, sort="price")
        assert ids(by_price) == [docs[n]["id"] for n in ("tunnel", "sewage", "drone", "battery")]
        # The same orders when a full-text match is filtered or faceted (computed in one pass over the matches).
        matched = {"q": "简单", "region": "510000", "facets": "trl"}
        assert ids(await search(stack, **matched, sort="newest")) == [docs[n]["id"] for n in ("tunnel", "sewage")]
        assert ids(await search(stack, **matched, sort="price")) == [docs[n]["id"] for n in ("tunnel", "sewage")]
        second = await search(stack, **matched, sort="newest", limit=1, offset=1)
        assert (ids(second), second["total"]) == ([docs["sewage"]["id"]], 2)

    async def test_pages_with_limit_and_offset(self, stack: Stack, actors: Any) -> None:
        docs = await seed(stack, actors)
        first = await search(stack, sort="newest", limit=3)
        second = await search(stack, sort="newest", limit=3, offset=3)
        assert (first["total"], second["total"]) == (4, 4)
        assert first["total_is_exact"] is True
        assert ids(first) + ids(second) == [docs[n]["id"] for n in ("tunnel", "battery", "drone", "sewage")]
        assert (second["limit"], second["offset"]) == (3, 3)
        assert second["processing_time_ms"] >= 0
        assert second["engine"] == "embedded"

    async def test_no_match_is_an_empty_page(self, stack: Stack, actors: Any) -> None:
        await seed(stack, actors)
        body = await search(stack, q="量子计算", facets="technical_field")
        assert (body["hits"], body["total"], body["facets"]) == ([], 0, {"technical_field": {}})

    async def test_query_syntax_is_never_an_error(self, stack: Stack, actors: Any) -> None:
        docs = await seed(stack, actors)
        for q in ("NEAR(图像 隧道)", "{title}: 图像", "图像 OR 芯片", "图像 AND", "^图像", '"图像', "图像*"):
            response = await stack.client.get("/search/achievements", params={"q": q})
            assert response.status_code == 200, (q, response.text)
        assert ids(await search(stack, q="隧道_衬砌")) == [docs["tunnel"]["id"]]

    @pytest.mark.parametrize("q", ["*", '"', "-", "_", "，。！", "我们需要寻求一种", "   的 了  "])
    async def test_a_q_without_searchable_words_is_a_422_not_the_whole_catalogue(
        self, stack: Stack, actors: Any, q: str
    ) -> None:
        await seed(stack, actors)
        response = await stack.client.get("/search/achievements", params={"q": q})
        assert_problem(response, 422, "q")
        assert "no searchable word" in response.json()["errors"][0]["message"]

    async def test_needs_no_token(self, stack: Stack) -> None:
        response = await stack.client.get("/search/achievements", params={"q": "电池"})
        assert response.status_code == 200
        assert response.json()["total"] == 0

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"q": "污" * 201}, "q"),
            ({"limit": 101}, "limit"),
            ({"limit": 0}, "limit"),
            ({"offset": 1001}, "offset"),
            ({"offset": -1}, "offset"),
            ({"facets": "technical_field,colour"}, "facets"),
            ({"facets": "cooperation_mode"}, "facets"),
            ({"technical_field": "99"}, "technical_field"),
            ({"region": "5101"}, "region"),
            ({"region": "990000"}, "region"),
            ({"trl_min": 0}, "trl_min"),
            ({"trl_max": 10}, "trl_max"),
            ({"trl_min": 7, "trl_max": 3}, "trl_min"),
            ({"price_min_fen": -5}, "price_min_fen"),
            ({"price_min_fen": 9, "price_max_fen": 1}, "price_min_fen"),
            ({"price_min_fen": "1.5"}, "price_min_fen"),
            ({"ip_type": "发明专利"}, "ip_type"),
            ({"transfer_mode": "Transfer Now"}, "transfer_mode"),
            ({"owner_org": "someone"}, "owner_org"),
            ({"sort": "popular"}, "sort"),
            ({"matching": "any"}, "matching"),
            ({"semantic_ratio": 1.5}, "semantic_ratio"),
            ({"semantic_ratio": -0.1}, "semantic_ratio"),
            ({"semantic_ratio": "half"}, "semantic_ratio"),
        ],
    )
    async def test_bad_queries_name_the_parameter(self, stack: Stack, params: dict[str, Any], field: str) -> None:
        response = await stack.client.get("/search/achievements", params=params)
        assert_problem(response, 422, field)


class TestSearchDemands:
    async def test_sub_words_filters_and_facets(self, stack: Stack, actors: Any) -> None:
        docs = await seed(stack, actors)
        body = await search(stack, "demands", q="处理", facets="technical_field,cooperation_mode,region")
        assert ids(body) == [docs["need_battery"]["id"]]
        assert body["facets"]["cooperation_mode"] == {"transfer": 1}
        assert body["facets"]["region"] == {"500100": 1}
        assert body["hits"][0]["desired_trl"] == 6
        assert body["hits"][0]["deadline"] == "2026-12-31"
        assert ids(await search(stack, "demands", budget_max_fen=20_000_000)) == [docs["need_chip"]["id"]]
        assert ids(await search(stack, "demands", cooperation_mode="joint_development")) == [docs["need_chip"]["id"]]
        assert ids(await search(stack, "demands", trl_max=4)) == [docs["need_chip"]["id"]]
        assert ids(await search(stack, "demands", region="500000")) == [docs["need_battery"]["id"]]

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"facets": "transfer_mode"}, "facets"),
            ({"budget_min_fen": 10, "budget_max_fen": 5}, "budget_min_fen"),
            ({"cooperation_mode": "a b"}, "cooperation_mode"),
            ({"limit": 500}, "limit"),
        ],
    )
    async def test_bad_queries_name_the_parameter(self, stack: Stack, params: dict[str, Any], field: str) -> None:
        assert_problem(await stack.client.get("/search/demands", params=params), 422, field)


class TestSimilar:
    async def test_a_need_written_as_sentences_finds_achievements_with_the_words_they_share(
        self, stack: Stack, actors: Any
    ) -> None:
        docs = await seed(stack, actors)
        text = "寻求图像识别方面的技术合作，用于输电线路巡检中的缺陷检测。我们公司有大量巡检图像需要处理。"
        response = await stack.client.post("/search/achievements/similar", json={"text": text})
        assert response.status_code == 200, response.text
        body = response.json()
        assert 0 < len(body["query_words"]) <= 10
        assert not {"寻求", "方面", "我们", "公司", "需要"} & set(body["query_words"])
        assert ids(body)[0] == docs["drone"]["id"]
        assert {"巡检", "图像"} <= set(body["hits"][0]["matched_terms"])
        assert (body["matching"], body["semantic"]) == ("last", False)
        assert "<em>" in body["hits"][0]["snippet"]

    async def test_an_organization_and_ids_are_left_out(self, stack: Stack, actors: Any) -> None:
        docs = await seed(stack, actors)
        text = "待处理污水的过滤，以及巡检图像处理"
        both = ids((await stack.client.post("/search/achievements/similar", json={"text": text})).json())
        assert {docs["sewage"]["id"], docs["drone"]["id"]} <= set(both)
        response = await stack.client.post(
            "/search/achievements/similar",
            json={"text": text, "exclude_owner_org": OWNER, "exclude_ids": [docs["drone"]["id"]]},
        )
        left = ids(response.json())
        assert docs["sewage"]["id"] not in left  # owned by OWNER
        assert docs["drone"]["id"] not in left

    async def test_demands_for_an_offer(self, stack: Stack, actors: Any) -> None:
        docs = await seed(stack, actors)
        text = "退役动力电池梯次利用与回收处理技术，拆解效率高"
        body = (await stack.client.post("/search/demands/similar", json={"text": text, "limit": 5})).json()
        assert ids(body) == [docs["need_battery"]["id"]]

    @pytest.mark.parametrize(
        ("payload", "field"),
        [
            ({}, "text"),
            ({"text": ""}, "text"),
            ({"text": "污" * 4001}, "text"),
            ({"text": "我们需要寻求一种，。"}, "text"),
            ({"text": "电池", "limit": 0}, "limit"),
            ({"text": "电池", "offset": 1001}, "offset"),
            ({"text": "电池", "matching": "any"}, "matching"),
            ({"text": "电池", "semantic_ratio": 2}, "semantic_ratio"),
            ({"text": "电池", "exclude_owner_org": "nobody"}, "exclude_owner_org"),
            ({"text": "电池", "exclude_ids": ["x"]}, "exclude_ids.0"),
            ({"text": "电池", "exclude_ids": [str(new_id()) for _ in range(101)]}, "exclude_ids"),
            ({"text": "电池", "technical_field": "99"}, "technical_field"),
            ({"text": "电池", "region": "990000"}, "region"),
            ({"text": "电池", "trl_min": 8, "trl_max": 2}, "trl_min"),
            ({"text": "电池", "colour": "red"}, "colour"),
            # Found by schemathesis (docs/errors.md): a boolean is no integer, a numeric string no number.
            ({"text": "电池", "offset": False}, "offset"),
            ({"text": "电池", "limit": True}, "limit"),
            ({"text": "电池", "trl_min": "3"}, "trl_min"),
            ({"text": "电池", "semantic_ratio": "0.5"}, "semantic_ratio"),
        ],
    )
    async def test_bad_input_names_the_field(self, stack: Stack, payload: dict[str, Any], field: str) -> None:
        assert_problem(await stack.client.post("/search/achievements/similar", json=payload), 422, field)

    async def test_malformed_json_is_a_400(self, stack: Stack) -> None:
        response = await stack.client.post(
            "/search/demands/similar", content=b'{"text": ', headers={"Content-Type": "application/json"}
        )
        assert_problem(response, 400)


class TestEngineFailures:
    @pytest.mark.parametrize(
        ("error", "status", "slug"),
        [
            (EngineUnavailable("timed out"), 503, "search-engine-unavailable"),
            (EngineRejected("invalid_search_filter", code="invalid_search_filter"), 502, "search-engine-error"),
        ],
    )
    async def test_an_engine_failure_is_a_problem_not_a_500(
        self, stack: Stack, error: Exception, status: int, slug: str
    ) -> None:
        app = stack.service_app("search")
        live = app.state.search_engine

        class Failing:
            name = "failing"

            async def search(self, *_: Any, **__: Any) -> None:
                raise error

        app.state.search_engine = Failing()
        try:
            response = await stack.client.get("/search/achievements", params={"q": "电池"})
        finally:
            app.state.search_engine = live
        body = assert_problem(response, status)
        assert body["type"].endswith(slug)
        assert "timed out" not in body["detail"]
        assert "invalid_search_filter" not in body["detail"]
        if status == 503:
            assert response.headers["Retry-After"] == "5"
