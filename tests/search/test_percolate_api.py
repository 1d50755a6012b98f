"""POST /search/{kind}/percolate: which saved searches a listing matches — auth, validation, and the answer."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Stack
from tests.search.factories import delete_op, upsert_op
from tests.search.test_ingestion import ingest, search
from tests.support.problems import assert_problem

DRONE = upsert_op(
    title="无人机电力巡检图像处理方法",
    summary="利用深度学习对巡检图像进行处理，识别输电线路缺陷。",
    description=None,
    keywords=["无人机", "图像识别"],
    technical_field="electronic_information",
    region_code="510107",
    trl=4,
    ip_type="invention_patent",
    transfer_modes=["license", "transfer"],
    price={"kind": "range", "min_fen": 50_000_000, "max_fen": 90_000_000},
)


async def percolate(
    stack: Stack, headers: dict[str, str], body: dict[str, Any], kind: str = "achievements"
) -> httpx.Response:
    return await stack.client.post(f"/search/{kind}/percolate", json=body, headers=headers)


def q(key: str, text: str = "", **filters: Any) -> dict[str, Any]:
    return {"key": key, "q": text, **filters}


class TestPercolate:
    async def test_needs_a_token_with_the_ingest_scope(self, stack: Stack, actors: Any) -> None:
        body = {"document": DRONE, "queries": [q("a", "无人机")]}
        assert_problem(await percolate(stack, {}, body), 401)
        reader = await actors.service_client(scopes=["market:read"])
        assert_problem(await percolate(stack, reader.headers, body), 403)
        user = await actors.org_member()
        assert_problem(await percolate(stack, user.headers, body), 403)

    async def test_matches_carry_key_score_snippet_and_terms_in_request_order(self, stack: Stack, actors: Any) -> None:
        relay = await actors.service_client()
        queries = [
            q("both", "巡检 无人机", matching="all"),
            q("missing-word", "巡检 锂电池", matching="all"),
            q("first-word-held", "巡检 锂电池"),  # `last`: the first word is enough
            q("first-word-missing", "锂电池 巡检"),
            q("prefix", "无人"),  # the last word matches as the start of a longer word
            q("filters-only", technical_field="electronic_information", region="510000", trl_max=5),
            q("wrong-field", "无人机", technical_field="environment"),
            q("price-overlap", "巡检", amount_min=80_000_000, amount_max=200_000_000),
            q("price-below", "巡检", amount_max=10_000_000),
            q("mode", "巡检", transfer_mode="license"),
            q("other-mode", "巡检", transfer_mode="equity"),
        ]
        response = await percolate(stack, relay.headers, {"document": DRONE, "queries": queries})
        assert response.status_code == 200, response.text
        matches = response.json()["matches"]
        assert [m["key"] for m in matches] == [
            "both",
            "first-word-held",
            "prefix",
            "filters-only",
            "price-overlap",
            "mode",
        ]
        by_key = {m["key"]: m for m in matches}
        assert by_key["both"]["score"] == 1.0
        assert by_key["both"]["matched_terms"] == ["巡检", "无人机"]  # in query order
        assert "<em>巡检</em>" in by_key["both"]["snippet"]
        assert by_key["first-word-held"]["matched_terms"] == ["巡检"]
        assert by_key["first-word-held"]["score"] == 0.5
        assert by_key["filters-only"] == {
            "key": "filters-only",
            "score": None,
            "snippet": by_key["filters-only"]["snippet"],
            "matched_terms": [],
        }
        assert by_key["filters-only"]["snippet"].startswith("利用深度学习")

    async def test_agrees_with_search_once_the_listing_is_indexed(self, stack: Stack, actors: Any) -> None:
        relay = await actors.service_client()
        queries = [q("a", "图像处理"), q("b", "输电线路 桥梁", matching="all"), q("c", "深度", region="500000")]
        matched = {
            m["key"]
            for m in (await percolate(stack, relay.headers, {"document": DRONE, "queries": queries})).json()["matches"]
        }
        assert (await ingest(stack, relay.headers, DRONE)).status_code == 200
        found = set()
        for item in queries:
            params = {k: v for k, v in item.items() if k != "key"}
            if DRONE["id"] in {hit["id"] for hit in (await search(stack, **params))["hits"]}:
                found.add(item["key"])
        assert matched == found == {"a"}

    async def test_an_unpublished_or_deleted_listing_matches_nothing(self, stack: Stack, actors: Any) -> None:
        relay = await actors.service_client()
        queries = [q("a", "无人机"), q("everything", technical_field="electronic_information")]
        draft = {**DRONE, "fields": {**DRONE["fields"], "status": "draft"}}
        for document in (draft, delete_op("achievement", DRONE["id"], 2)):
            response = await percolate(stack, relay.headers, {"document": document, "queries": queries})
            assert response.status_code == 200, response.text
            assert response.json() == {"matches": []}

    async def test_demands_percolate_with_their_own_filters(self, stack: Stack, actors: Any) -> None:
        relay = await actors.service_client()
        demand = upsert_op("demand")
        queries = [
            q("mode", "正极材料", cooperation_mode="joint_development"),
            q("budget", "锂电池", amount_min=90_000_000),
        ]
        response = await percolate(stack, relay.headers, {"document": demand, "queries": queries}, "demands")
        assert response.status_code == 200, response.text
        assert [m["key"] for m in response.json()["matches"]] == ["mode"]

    async def test_bad_input_is_a_422_naming_the_field(self, stack: Stack, actors: Any) -> None:
        relay = await actors.service_client()

        async def refused(body: dict[str, Any], field: str, kind: str = "achievements") -> dict[str, Any]:
            return assert_problem(await percolate(stack, relay.headers, body, kind), 422, field)

        ok = q("ok", "无人机")
        await refused({"document": DRONE, "queries": [ok]}, "kind", kind="patents")
        await refused({"document": DRONE, "queries": [ok] * 1001}, "queries")
        body = await refused(
            {"document": DRONE, "queries": [ok, q("f", "无人机", matching="frequency")]}, "queries.1.matching"
        )
        assert body["errors"][0]["type"] == "frequency_refused"
        await refused({"document": DRONE, "queries": [ok, q("t", trl_min=7, trl_max=3)]}, "queries.1.trl_min")
        await refused({"document": DRONE, "queries": [q("t", trl_min=0)]}, "queries.0.trl_min")
        await refused({"document": DRONE, "queries": [q("a", amount_min=9, amount_max=1)]}, "queries.0.amount_min")
        await refused({"document": DRONE, "queries": [q("r", region="999999")]}, "queries.0.region")
        await refused({"document": DRONE, "queries": [q("f", technical_field="nonsense")]}, "queries.0.technical_field")
        await refused(
            {"document": DRONE, "queries": [q("m", cooperation_mode="joint_development")]}, "queries.0.cooperation_mode"
        )
        await refused(
            {"document": upsert_op("demand"), "queries": [q("i", ip_type="invention_patent")]},
            "queries.0.ip_type",
            "demands",
        )
        await refused({"document": DRONE, "queries": [{"key": "x" * 65}]}, "queries.0.key")
        await refused({"document": DRONE, "queries": [{**ok, "sort": "price"}]}, "queries.0.sort")
        await refused({"document": DRONE, "queries": [ok]}, "document.kind", kind="demands")
        bad = {**DRONE, "fields": {**DRONE["fields"], "trl": 12}}
        await refused({"document": bad, "queries": [ok]}, "document.fields.trl")
        await refused({"document": {**DRONE, "op": "merge"}, "queries": [ok]}, "document.op")

    async def test_a_query_without_searchable_words_matches_nothing(self, stack: Stack, actors: Any) -> None:
        relay = await actors.service_client()
        response = await percolate(
            stack, relay.headers, {"document": DRONE, "queries": [q("stop", "寻求 需要"), q("ok", "无人机")]}
        )
        assert response.status_code == 200, response.text
        assert [m["key"] for m in response.json()["matches"]] == ["ok"]
