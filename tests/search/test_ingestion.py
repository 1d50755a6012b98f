"""POST /search/documents through the embedded stack: consistency, version ordering, deletes, private fields."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from services.search.documents.models import IndexedDocument
from services.search.documents.service import indexed_documents
from shared.ids import new_id
from tests.conftest import Stack
from tests.search.factories import delete_op, upsert_op
from tests.support.problems import assert_problem

PRIVATE = {
    "contact_name": "张三",
    "contact_phone": "13800138000",
    "contact_email": "zhangsan@example.cn",
    "inventors": [{"name": "李四", "id_card": "510104199001011234"}],
    "internal_notes": "保密备注：底价八十万",
}


async def ingest(stack: Stack, headers: dict[str, str], *operations: dict[str, Any]) -> httpx.Response:
    return await stack.client.post("/search/documents", json={"documents": list(operations)}, headers=headers)


async def search(stack: Stack, kind: str = "achievements", **params: Any) -> dict[str, Any]:
    response = await stack.client.get(f"/search/{kind}", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def stored_rows(stack: Stack) -> list[IndexedDocument]:
    sessionmaker = stack.service_app("search").state.sessionmaker
    async with sessionmaker() as session:
        return list(await session.scalars(select(IndexedDocument)))


class TestIngestDocuments:
    async def test_searchable_immediately_after_ingestion(self, stack: Stack, actors: Any) -> None:
        relay = await actors.service_client(scopes=["search:ingest"])
        operation = upsert_op(title="一种无人机巡检系统")
        response = await ingest(stack, relay.headers, operation)
        assert response.status_code == 200, response.text
        assert response.json() == {"received": 1, "indexed": 1, "removed": 0, "stale": 0, "duplicate": 0}
        body = await search(stack, q="无人机")
        assert [hit["id"] for hit in body["hits"]] == [operation["id"]]
        assert body["hits"][0]["title"] == "一种无人机巡检系统"

    async def test_demands_are_searchable_too(self, stack: Stack, actors: Any) -> None:
        relay = await actors.service_client(scopes=["search:ingest"])
        operation = upsert_op("demand")
        assert (await ingest(stack, relay.headers, operation)).status_code == 200
        body = await search(stack, "demands", q="正极材料")
        assert [hit["id"] for hit in body["hits"]] == [operation["id"]]
        assert body["hits"][0]["budget"] == {"kind": "range", "min_fen": 20_000_000, "max_fen": 80_000_000}
        assert (await search(stack, q="正极材料"))["total"] == 0  # not mixed into achievements

    async def test_an_older_version_never_overwrites_a_newer_one(self, stack: Stack, actors: Any) -> None:
        relay = await actors.service_client(scopes=["search:ingest"])
        doc_id = new_id()
        newer = upsert_op(id=doc_id, version=3, title="第三版：智能电网调度系统")
        older = upsert_op(id=doc_id, version=2, title="第二版：旧标题")
        assert (await ingest(stack, relay.headers, newer)).json()["indexed"] == 1
        report = (await ingest(stack, relay.headers, older)).json()
        assert report == {"received": 1, "indexed": 0, "removed": 0, "stale": 1, "duplicate": 0}
        body = await search(stack, q="调度")
        assert [hit["title"] for hit in body["hits"]] == ["第三版：智能电网调度系统"]
        assert (await search(stack, q="旧标题"))["total"] == 0
        engine = stack.service_app("search").state.search_engine
        assert await indexed_documents(engine=engine, kind="achievement") == {str(doc_id): 3}

    async def test_newest_of_one_batch_wins_in_any_order(self, stack: Stack, actors: Any) -> None:
        relay = await actors.service_client(scopes=["search:ingest"])
        doc_id = new_id()
        report = await ingest(
            stack,
            relay.headers,
            upsert_op(id=doc_id, version=5, title="新能源汽车电池管理系统"),
            upsert_op(id=doc_id, version=4, title="过时的电池标题"),
            upsert_op(id=doc_id, version=5, title="新能源汽车电池管理系统"),
        )
        assert report.json() == {"received": 3, "indexed": 1, "removed": 0, "stale": 1, "duplicate": 1}
        assert [hit["title"] for hit in (await search(stack, q="电池"))["hits"]] == ["新能源汽车电池管理系统"]

    async def test_a_duplicate_is_harmless(self, stack: Stack, actors: Any) -> None:
        relay = await actors.service_client(scopes=["search:ingest"])
        operation = upsert_op(version=1)
        await ingest(stack, relay.headers, operation)
        report = (await ingest(stack, relay.headers, operation)).json()
        assert report == {"received": 1, "indexed": 0, "removed": 0, "stale": 0, "duplicate": 1}
        assert (await search(stack, q="污水"))["total"] == 1

    async def test_delete_removes_and_its_tombstone_stops_a_late_upsert(self, stack: Stack, actors: Any) -> None:
        relay = await actors.service_client(scopes=["search:ingest"])
        doc_id = new_id()
        await ingest(stack, relay.headers, upsert_op(id=doc_id, version=1))
        report = (await ingest(stack, relay.headers, delete_op("achievement", doc_id, 2))).json()
        assert report["removed"] == 1
        assert (await search(stack, q="污水"))["total"] == 0
        late = (await ingest(stack, relay.headers, upsert_op(id=doc_id, version=1))).json()
        assert late["stale"] == 1
        assert (await search(stack, q="污水"))["total"] == 0
        (row,) = await stored_rows(stack)
        assert (row.id, row.version, row.deleted, row.fields) == (doc_id, 2, True, None)

    async def test_an_unpublished_status_takes_the_document_out(self, stack: Stack, actors: Any) -> None:
        relay = await actors.service_client(scopes=["search:ingest"])
        doc_id = new_id()
        await ingest(stack, relay.headers, upsert_op(id=doc_id, version=1))
        report = (await ingest(stack, relay.headers, upsert_op(id=doc_id, version=2, status="withdrawn"))).json()
        assert report["removed"] == 1
        assert (await search(stack, q="污水"))["total"] == 0
        negotiating = upsert_op(version=1, status="negotiating")
        assert (await ingest(stack, relay.headers, negotiating)).json()["indexed"] == 1
        draft_demand = upsert_op("demand", version=1, status="draft")
        assert (await ingest(stack, relay.headers, draft_demand)).json()["removed"] == 1
        assert (await search(stack, "demands", q="正极材料"))["total"] == 0

    async def test_private_fields_never_reach_the_index(self, stack: Stack, actors: Any) -> None:
        relay = await actors.service_client(scopes=["search:ingest"])
        operation = upsert_op(version=1, **PRIVATE)
        assert (await ingest(stack, relay.headers, operation)).json()["indexed"] == 1
        for secret in ("张三", "13800138000", "李四", "底价", "zhangsan"):
            assert (await search(stack, q=secret))["total"] == 0, secret
        hit = (await search(stack, q="污水"))["hits"][0]
        assert not set(PRIVATE) & set(hit)
        assert "13800138000" not in str(hit)
        (row,) = await stored_rows(stack)
        assert row.fields is not None
        assert not set(PRIVATE) & set(row.fields)
        assert "13800138000" not in str(row.fields)

    async def test_needs_a_token_with_the_ingest_scope(self, stack: Stack, actors: Any) -> None:
        assert_problem(await ingest(stack, {}, upsert_op()), 401)
        reader = await actors.service_client(scopes=["market:read"])
        assert_problem(await ingest(stack, reader.headers, upsert_op()), 403)
        user = await actors.org_member()
        assert_problem(await ingest(stack, user.headers, upsert_op()), 403)
        assert await stored_rows(stack) == []

    async def test_an_upsert_without_fields_is_refused_and_nothing_stored(self, stack: Stack, actors: Any) -> None:
        relay = await actors.service_client(scopes=["search:ingest"])
        good = upsert_op()
        bad = {"op": "upsert", "kind": "achievement", "id": str(new_id()), "version": 1}
        assert_problem(await ingest(stack, relay.headers, good, bad), 422, "documents.1.fields")
        assert await stored_rows(stack) == []
        assert (await search(stack, q="污水"))["total"] == 0

    async def test_invalid_whitelisted_values_name_the_field(self, stack: Stack, actors: Any) -> None:
        relay = await actors.service_client(scopes=["search:ingest"])
        response = await ingest(stack, relay.headers, upsert_op(trl=12), upsert_op("demand", region_code="51"))
        body = assert_problem(response, 422, "documents.0.fields.trl")
        assert "documents.1.fields.region_code" in [e["field"] for e in body["errors"]]
        assert await stored_rows(stack) == []

    async def test_malformed_operations_are_422(self, stack: Stack, actors: Any) -> None:
        relay = await actors.service_client(scopes=["search:ingest"])
        cases = [
            ({**upsert_op(), "op": "replace"}, "documents.0.op"),
            ({**upsert_op(), "kind": "contract"}, "documents.0.kind"),
            ({**upsert_op(), "id": "not-a-uuid"}, "documents.0.id"),
            ({**upsert_op(), "version": -1}, "documents.0.version"),
            ({**upsert_op(), "priority": 1}, "documents.0.priority"),
        ]
        for operation, field in cases:
            assert_problem(await ingest(stack, relay.headers, operation), 422, field)
        empty = await stack.client.post("/search/documents", json={"documents": []}, headers=relay.headers)
        assert_problem(empty, 422, "documents")
        assert await stored_rows(stack) == []
