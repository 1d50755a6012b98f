"""SearchClient.percolate against a fake search service (httpx.MockTransport): chunks, token, failures."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from services.market.matching.client import PERCOLATE_CHUNK, PercolateMatch, SearchClient, SearchUnavailable

DOCUMENT = {"op": "upsert", "kind": "achievement", "id": "0190a000-0000-7000-8000-000000000001", "version": 3,
            "fields": {"title": "无人机巡检", "status": "published"}}  # fmt: skip


class FakeTokens:
    """A token source handing out numbered tokens; invalidate() makes the next one new."""

    def __init__(self) -> None:
        self.issued = 0
        self.current: str | None = None

    async def headers(self) -> dict[str, str]:
        if self.current is None:
            self.issued += 1
            self.current = f"token-{self.issued}"
        return {"Authorization": f"Bearer {self.current}"}

    def invalidate(self) -> None:
        self.current = None


class FakeSearch:
    """Answers percolation like the search service: every query whose q holds 巡检 matches; records requests."""

    def __init__(self, *, reject_token: str | None = None, status: int = 200, body: Any = None) -> None:
        self.requests: list[httpx.Request] = []
        self.reject_token = reject_token
        self.status = status
        self.body = body

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.headers.get("authorization") == f"Bearer {self.reject_token}":
            return httpx.Response(401, json={"title": "expired"})
        if self.status != 200 or self.body is not None:
            return httpx.Response(self.status, json=self.body)
        payload = json.loads(request.content)
        matches = [
            {"key": q["key"], "score": 1.0, "snippet": "<em>巡检</em>", "matched_terms": ["巡检"]}
            for q in payload["queries"]
            if "巡检" in q["q"]
        ]
        return httpx.Response(200, json={"matches": matches})


def client_on(fake: FakeSearch, tokens: FakeTokens | None) -> tuple[SearchClient, httpx.AsyncClient]:
    http = httpx.AsyncClient(transport=httpx.MockTransport(fake.handle))
    return SearchClient(http, search_url="http://search.test/search/", tokens=tokens), http


async def test_splits_into_chunks_of_1000_and_keeps_the_order() -> None:
    fake, tokens = FakeSearch(), FakeTokens()
    client, http = client_on(fake, tokens)
    queries = [{"key": str(i), "q": "巡检" if i % 3 == 0 else "电池", "matching": "last"} for i in range(2500)]
    async with http:
        matches = await client.percolate("achievement", DOCUMENT, queries)
    assert [len(json.loads(r.content)["queries"]) for r in fake.requests] == [PERCOLATE_CHUNK, PERCOLATE_CHUNK, 500]
    assert {str(r.url) for r in fake.requests} == {"http://search.test/search/achievements/percolate"}
    assert all(json.loads(r.content)["document"] == DOCUMENT for r in fake.requests)
    assert all(r.headers["authorization"] == "Bearer token-1" for r in fake.requests)
    assert [m.key for m in matches] == [str(i) for i in range(0, 2500, 3)]
    assert matches[0] == PercolateMatch(key="0", score=1.0, snippet="<em>巡检</em>", matched_terms=["巡检"])


async def test_no_queries_no_call() -> None:
    fake = FakeSearch()
    client, http = client_on(fake, FakeTokens())
    async with http:
        assert await client.percolate("demand", {**DOCUMENT, "kind": "demand"}, []) == []
    assert fake.requests == []


async def test_an_expired_token_is_renewed_once() -> None:
    fake, tokens = FakeSearch(reject_token="token-1"), FakeTokens()
    client, http = client_on(fake, tokens)
    async with http:
        matches = await client.percolate("demands", {**DOCUMENT, "kind": "demand"}, [{"key": "k", "q": "巡检"}])
    assert [m.key for m in matches] == ["k"]
    assert [r.headers["authorization"] for r in fake.requests] == ["Bearer token-1", "Bearer token-2"]
    assert str(fake.requests[0].url).endswith("/demands/percolate")


@pytest.mark.parametrize(
    "fake",
    [
        FakeSearch(status=401, body={"title": "bad token"}),  # refused again with a renewed token
        FakeSearch(status=503, body={"title": "engine down"}),
        FakeSearch(status=422, body={"errors": [{"field": "queries.0.trl_min"}]}),
        FakeSearch(status=200, body={"hits": []}),
    ],
    ids=["401-twice", "503", "422", "not-the-contract"],
)
async def test_failures_are_search_unavailable(fake: FakeSearch) -> None:
    client, http = client_on(fake, FakeTokens())
    async with http:
        with pytest.raises(SearchUnavailable) as raised:
            await client.percolate("achievement", DOCUMENT, [{"key": "k", "q": "巡检"}])
    assert raised.value.status == 503
    assert raised.value.headers["Retry-After"] == "5"


async def test_unreachable_search_or_auth_is_search_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    class BrokenTokens(FakeTokens):
        async def headers(self) -> dict[str, str]:
            raise httpx.ConnectError("auth unreachable")

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
        for tokens in (FakeTokens(), BrokenTokens()):
            client = SearchClient(http, search_url="http://search.test/search", tokens=tokens)
            with pytest.raises(SearchUnavailable):
                await client.percolate("achievement", DOCUMENT, [{"key": "k", "q": "巡检"}])
