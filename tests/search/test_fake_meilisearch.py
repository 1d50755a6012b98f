"""FakeMeilisearch against facts from the server's own repository at v1.50.0.

Expected messages are copied from the snapshots of crates/meilisearch/tests (search/errors.rs,
settings/errors.rs, documents/errors.rs) or follow the source named in each case; the fake is what the adapter's
tests trust, so its claims are tested too.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.search.fake_meilisearch import FakeMeilisearch
from tests.search.fake_meilisearch.tokenize import document_words

KEY = "fake-master-key"


async def call(fake: FakeMeilisearch, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with httpx.AsyncClient(
        base_url="http://meili.fake", transport=fake.transport(), headers={"Authorization": f"Bearer {KEY}"}
    ) as client:
        response = await client.request(method, path, json=body)
        return response.status_code, response.json()


async def run_task(fake: FakeMeilisearch, method: str, path: str, body: Any = None) -> dict[str, Any]:
    status, answer = await call(fake, method, path, body)
    assert status == 202, answer
    fake.process()
    return fake.tasks[answer["taskUid"]]


async def movies(fake: FakeMeilisearch, **settings: Any) -> None:
    await run_task(fake, "POST", "/indexes", {"uid": "movies", "primaryKey": "id"})
    await run_task(fake, "PATCH", "/indexes/movies/settings", {"filterableAttributes": ["title"], **settings})


class TestErrors:
    async def test_filter_syntax_errors(self) -> None:
        fake = FakeMeilisearch()
        await movies(fake)
        cases = {
            "title & Glass": "Was expecting an operation `=`, `!=`, `>=`, `>`, `<=`, `<`, `IN`, `NOT IN`, `TO`, "
            "`EXISTS`, `NOT EXISTS`, `IS NULL`, `IS NOT NULL`, `IS EMPTY`, `IS NOT EMPTY`, `CONTAINS`, "
            "`NOT CONTAINS`, `STARTS WITH`, `NOT STARTS WITH`, `_geoRadius`, `_geoBoundingBox` or `_geoPolygon` at "
            "`title & Glass`.\n1:14 title & Glass",
            "title = Glass XOR title = Glass": "Found unexpected characters at the end of the filter: "
            "`XOR title = Glass`. You probably forgot an `OR` or an `AND` rule.\n15:32 title = Glass XOR title = Glass",
            '"many" = "Glass"': "Index `movies`: Attribute `many` is not filterable. Available filterable attribute "
            'patterns are: `title`.\n2:6 "many" = "Glass"',
        }
        for expression, message in cases.items():
            status, body = await call(fake, "POST", "/indexes/movies/search", {"filter": expression})
            assert (status, body["code"], body["message"]) == (400, "invalid_search_filter", message)
        status, body = await call(fake, "POST", "/indexes/movies/search", {"filter": True})
        assert body["message"] == "Invalid syntax for the filter parameter: `expected String, Array, found: true`."

    async def test_search_parameter_errors(self) -> None:
        fake = FakeMeilisearch()
        await movies(fake, sortableAttributes=["id"])
        cases: list[tuple[dict[str, Any], str, str]] = [
            (
                {"sort": "doggo"},
                "invalid_search_sort",
                'Invalid value type at `.sort`: expected an array, but found a string: `"doggo"`',
            ),
            (
                {"facets": "doggo"},
                "invalid_search_facets",
                'Invalid value type at `.facets`: expected an array, but found a string: `"doggo"`',
            ),
            (
                {"facets": ["doggo"]},
                "invalid_search_facets",
                "Invalid facet distribution: Pattern `doggo` is not filterable. Available filterable attributes patterns are: `title`.",
            ),
            (
                {"matchingStrategy": "doggo"},
                "invalid_search_matching_strategy",
                "Unknown value `doggo` at `.matchingStrategy`: expected one of `last`, `all`, `frequency`",
            ),
            (
                {"matchingStrategy": {"doggo": "doggo"}},
                "invalid_search_matching_strategy",
                'Invalid value type at `.matchingStrategy`: expected a string, but found an object: `{"doggo":"doggo"}`',
            ),
            (
                {"sort": ["title"]},
                "invalid_search_sort",
                "Invalid syntax for the sort parameter: expected expression ending by `:asc` or `:desc`, found `title`.",
            ),
            (
                {"sort": ["title:asc"]},
                "invalid_search_sort",
                "Index `movies`: Attribute `title` is not sortable. Available sortable attributes are: `id`.",
            ),
            (
                {"offset": "doggo"},
                "invalid_search_offset",
                'Invalid value type at `.offset`: expected a positive integer, but found a string: `"doggo"`',
            ),
        ]
        for body, code, message in cases:
            status, answer = await call(fake, "POST", "/indexes/movies/search", body)
            assert (status, answer["code"], answer["message"]) == (400, code, message), body

    async def test_settings_errors(self) -> None:
        fake = FakeMeilisearch()
        await movies(fake)
        status, body = await call(fake, "PATCH", "/indexes/movies/settings", {"typoTolerance": "doggo"})
        assert (status, body["code"]) == (400, "invalid_settings_typo_tolerance")
        assert (
            body["message"]
            == 'Invalid value type at `.typoTolerance`: expected an object, but found a string: `"doggo"`'
        )
        status, body = await call(
            fake, "PATCH", "/indexes/movies/settings", {"typoTolerance": {"minWordSizeForTypos": "doggo"}}
        )
        assert body["message"] == (
            "Invalid value type at `.typoTolerance.minWordSizeForTypos`: expected an object, but found a string: "
            '`"doggo"`'
        )

    async def test_delete_by_filter_on_an_attribute_that_is_not_filterable_fails_the_task(self) -> None:
        fake = FakeMeilisearch()
        await run_task(fake, "POST", "/indexes", {"uid": "dogs"})
        task = await run_task(fake, "POST", "/indexes/dogs/documents/delete", {"filter": "doggo=bernese"})
        assert task["status"] == "failed"
        assert task["error"]["code"] == "invalid_document_filter"
        assert task["error"]["message"] == (
            "Attribute `doggo` is not filterable. This index does not have configured filterable attributes.\n"
            "1:6 doggo=bernese"
        )

    async def test_authentication(self) -> None:
        fake = FakeMeilisearch()
        async with httpx.AsyncClient(base_url="http://meili.fake", transport=fake.transport()) as client:
            assert (await client.get("/health")).json() == {"status": "available"}
            missing = await client.get("/indexes")
            wrong = await client.get("/indexes", headers={"Authorization": "Bearer nope"})
        assert (missing.status_code, missing.json()["code"]) == (401, "missing_authorization_header")
        assert (wrong.status_code, wrong.json()["code"], wrong.json()["type"]) == (403, "invalid_api_key", "auth")


class TestTasks:
    async def test_a_task_goes_enqueued_processing_succeeded_as_it_is_polled(self) -> None:
        fake = FakeMeilisearch()
        status, answer = await call(fake, "POST", "/indexes", {"uid": "movies"})
        assert (status, answer["status"], answer["type"]) == (202, "enqueued", "indexCreation")
        seen = [(await call(fake, "GET", f"/tasks/{answer['taskUid']}"))[1]["status"] for _ in range(3)]
        assert seen == ["processing", "succeeded", "succeeded"]

    async def test_tasks_run_in_enqueue_order_and_report_their_own_failure(self) -> None:
        fake = FakeMeilisearch()
        fake.pause()
        _, first = await call(fake, "POST", "/indexes", {"uid": "movies"})
        _, second = await call(fake, "POST", "/indexes", {"uid": "movies"})
        _, third = await call(fake, "DELETE", "/indexes/missing")
        assert [t["status"] for t in fake.queued()] == ["enqueued"] * 3
        fake.process()
        assert [fake.tasks[t["taskUid"]]["status"] for t in (first, second, third)] == ["succeeded", "failed", "failed"]
        assert fake.tasks[second["taskUid"]]["error"]["code"] == "index_already_exists"
        assert fake.tasks[third["taskUid"]]["error"]["message"] == "Index `missing` not found."

    async def test_a_document_addition_creates_the_index_and_checks_ids(self) -> None:
        fake = FakeMeilisearch()
        task = await run_task(fake, "POST", "/indexes/books/documents", [{"id": "a b"}])
        assert (task["status"], task["error"]["code"]) == ("failed", "invalid_document_id")
        task = await run_task(fake, "POST", "/indexes/books/documents", [{"book_id": 1, "title": "x"}])
        assert task["status"] == "succeeded"
        assert fake.indexes["books"].primary_key == "book_id"
        task = await run_task(fake, "POST", "/indexes/books/documents", [{"title": "y"}])
        assert task["error"]["code"] == "missing_document_id"


class TestSearch:
    async def test_totals_are_capped_by_max_total_hits(self) -> None:
        fake = FakeMeilisearch()
        await run_task(fake, "POST", "/indexes/n/documents", [{"id": i} for i in range(1200)])
        _, body = await call(fake, "POST", "/indexes/n/search", {"limit": 1})
        assert body["estimatedTotalHits"] == 1000  # the default maxTotalHits
        _, body = await call(fake, "POST", "/indexes/n/search", {"hitsPerPage": 1, "page": 2})
        assert (body["totalHits"], body["totalPages"], body["hits"]) == (1000, 1000, [{"id": 1}])
        _, body = await call(fake, "POST", "/indexes/n/search", {"offset": 999, "limit": 5})
        assert [h["id"] for h in body["hits"]] == [999]  # offset + limit capped at maxTotalHits

    async def test_facet_order_alpha_by_default_count_when_asked(self) -> None:
        fake = FakeMeilisearch()
        documents = [{"id": i, "genre": g} for i, g in enumerate(["b", "a", "c", "c", "b", "c", "d"])]
        await run_task(fake, "POST", "/indexes/m/documents", documents)
        await run_task(
            fake,
            "PATCH",
            "/indexes/m/settings",
            {"filterableAttributes": ["genre"], "faceting": {"maxValuesPerFacet": 3}},
        )
        _, body = await call(fake, "POST", "/indexes/m/search", {"facets": ["genre"]})
        assert list(body["facetDistribution"]["genre"].items()) == [("a", 1), ("b", 2), ("c", 3)]
        await run_task(fake, "PATCH", "/indexes/m/settings", {"faceting": {"sortFacetValuesBy": {"*": "count"}}})
        _, body = await call(fake, "POST", "/indexes/m/search", {"facets": ["genre"]})
        # Equal counts (a, d): the heap pops the greater value first.
        assert list(body["facetDistribution"]["genre"].items()) == [("c", 3), ("b", 2), ("d", 1)]

    async def test_sort_placement_in_the_ranking_rules(self) -> None:
        fake = FakeMeilisearch()
        documents = [
            {"id": 1, "title": "solar panel cleaning robot", "year": 2001},
            {"id": 2, "title": "solar inverter", "year": 2020},
        ]
        await run_task(fake, "POST", "/indexes/s/documents", documents)
        await run_task(fake, "PATCH", "/indexes/s/settings", {"sortableAttributes": ["year"]})

        async def order() -> list[int]:
            _, body = await call(fake, "POST", "/indexes/s/search", {"q": "solar panel", "sort": ["year:desc"]})
            return [h["id"] for h in body["hits"]]

        assert await order() == [1, 2]  # default rules: words before sort
        await run_task(
            fake,
            "PATCH",
            "/indexes/s/settings",
            {"rankingRules": ["sort", "words", "typo", "proximity", "attribute", "exactness"]},
        )
        assert await order() == [2, 1]

    async def test_matching_strategies(self) -> None:
        fake = FakeMeilisearch()
        documents = [
            {"id": 1, "text": "big fat cat"},
            {"id": 2, "text": "big cat"},
            {"id": 3, "text": "fat cat"},
            {"id": 4, "text": "big dog"},
        ]
        await run_task(fake, "POST", "/indexes/w/documents", documents)

        async def found(strategy: str) -> list[int]:
            _, body = await call(fake, "POST", "/indexes/w/search", {"q": "big fat ", "matchingStrategy": strategy})
            return [h["id"] for h in body["hits"]]

        assert await found("all") == [1]
        assert await found("last") == [1, 2, 4]  # "big" is never dropped
        assert await found("frequency") == [1, 3]  # "big" (3 documents) is dropped before "fat" (2)

    def test_chinese_tokenization_follows_charabia(self) -> None:
        # jieba without HMM, then words of 3+ characters split greedily into dictionary bigrams/trigrams.
        assert [w for w, _ in document_words("待处理订单")] == ["待处理", "订单"]
        assert [w for w, _ in document_words("传感器")] == ["传感", "器"]
        assert [w for w, _ in document_words("安装简单。Solar Panel")] == ["安装", "简单", "solar", "panel"]
        assert [p for _, p in document_words("安装简单。Solar Panel")] == [0, 1, 9, 10]
