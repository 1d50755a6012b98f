"""The Meilisearch engine (production), through the official async client ``meilisearch-python-sdk``.

Indexes: ``{prefix}achievements`` and ``{prefix}demands``, primary key ``id``. Settings are applied (and waited
for) before any document is loaded, because changing them later re-indexes everything. Chinese: the attributes
are declared ``cmn`` (localizedAttributes) so Meilisearch segments them as Chinese, and each document also
carries ``search_tokens`` — our own jieba search-mode words and bigrams — which is what lets 处理 find 待处理:
Meilisearch only matches whole words and prefixes.

Snippets are cut by :func:`services.search.segment.snippet`, the same function as the embedded engine, so both
engines highlight the same sub-words (Meilisearch's own highlighter would not mark 处理 inside 待处理).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import httpx2
from meilisearch_python_sdk import AsyncClient
from meilisearch_python_sdk._http_requests import AsyncHttpRequests
from meilisearch_python_sdk.models.settings import (
    Faceting,
    LocalizedAttributes,
    MeilisearchSettings,
    MinWordSizeForTypos,
    Pagination,
    TypoTolerance,
)

from services.search.engines.base import (
    FACET_FIELDS,
    KINDS,
    IndexBuilder,
    IndexDocument,
    Kind,
    SearchEngine,
    SearchHit,
    SearchQuery,
    SearchResult,
    region_filter,
)
from services.search.segment import Segmenter, snippet

__all__ = ["INDEX_SETTINGS", "MAX_TOTAL_HITS", "MeiliEngine", "build_filter", "make_client"]

# Deepest result reachable by offset + limit (the API caps offset at 1000 and limit at 100).
MAX_TOTAL_HITS = 1100
PAGE_SIZE = 1000

INDEX_SETTINGS = MeilisearchSettings(
    # Priority order matters for the "attribute" ranking rule: a match in the title beats one in the body.
    searchable_attributes=["title", "keywords", "search_tokens", "body"],
    filterable_attributes=[
        "id",
        "technical_field",
        "region_code",
        "region_city",
        "region_province",
        "trl",
        "ip_type",
        "modes",
        "amount_min_fen",
        "amount_max_fen",
        "owner_org_id",
    ],
    sortable_attributes=["published_ts", "amount_min_fen"],
    ranking_rules=["words", "typo", "proximity", "attribute", "sort", "exactness"],
    displayed_attributes=["id", "version", "card", "snippet_source"],
    localized_attributes=[LocalizedAttributes(attribute_patterns=["*"], locales=["cmn"])],
    # Typos make little sense for Chinese words of two characters; keep them for Latin words (CPU, 5G...).
    typo_tolerance=TypoTolerance(
        enabled=True,
        disable_on_numbers=True,
        disable_on_attributes=["search_tokens"],
        min_word_size_for_typos=MinWordSizeForTypos(one_typo=5, two_typos=9),
    ),
    pagination=Pagination(max_total_hits=MAX_TOTAL_HITS),
    faceting=Faceting(max_values_per_facet=100),
)


def make_client(url: str, api_key: str | None, *, transport: httpx2.AsyncBaseTransport | None = None) -> AsyncClient:
    """The SDK's async client; ``transport`` replaces its network (tests put a fake Meilisearch there)."""
    client = AsyncClient(url, api_key, timeout=10)
    if transport is not None:
        # The SDK builds its own httpx2 client with no transport hook: swap in one with the same base URL and
        # headers before any index object is made from it.
        headers = dict(client.http_client.headers)
        client.http_client = httpx2.AsyncClient(base_url=url, headers=headers, transport=transport, timeout=10)
        client._http_requests = AsyncHttpRequests(client.http_client, json_handler=client.json_handler)
    return client


def _literal(value: str | int) -> str:
    return str(value) if isinstance(value, int) else json.dumps(value, ensure_ascii=False)


def build_filter(query: SearchQuery) -> list[str]:
    """Meilisearch filter expressions (AND-ed as an array) for a query's filters."""
    out: list[str] = []
    if query.technical_field is not None:
        out.append(f"technical_field = {_literal(query.technical_field)}")
    if query.region is not None:
        field, value = region_filter(query.region)
        out.append(f"{field} = {_literal(value)}")
    if query.trl_min is not None:
        out.append(f"trl >= {query.trl_min}")
    if query.trl_max is not None:
        out.append(f"trl <= {query.trl_max}")
    if query.amount_min_fen is not None:
        out.append(f"amount_max_fen >= {query.amount_min_fen}")
    if query.amount_max_fen is not None:
        out.append(f"amount_min_fen <= {query.amount_max_fen}")
    if query.ip_type is not None:
        out.append(f"ip_type = {_literal(query.ip_type)}")
    if query.mode is not None:
        out.append(f"modes = {_literal(query.mode)}")  # on an array: any element equals
    if query.owner_org_id is not None:
        out.append(f"owner_org_id = {_literal(query.owner_org_id)}")
    return out


def _document(doc: IndexDocument, segmenter: Segmenter) -> dict[str, Any]:
    return {
        "id": doc.id,
        "version": doc.version,
        "title": doc.title,
        "keywords": doc.keywords,
        "body": doc.body,
        "search_tokens": segmenter.index_text(doc.title, doc.keywords, doc.body),
        "technical_field": doc.technical_field,
        "region_code": doc.region_code,
        "region_city": doc.region_city,
        "region_province": doc.region_province,
        "trl": doc.trl,
        "ip_type": doc.ip_type,
        "modes": list(doc.modes),
        "amount_min_fen": doc.amount_min_fen,
        "amount_max_fen": doc.amount_max_fen,
        "owner_org_id": doc.owner_org_id,
        "published_ts": doc.published_ts,
        "card": doc.card,
        "snippet_source": doc.snippet_source,
    }


class _Builder(IndexBuilder):
    def __init__(self, engine: MeiliEngine, kind: Kind, uid: str) -> None:
        self._engine = engine
        self._kind = kind
        self._uid = uid

    async def apply(self, upserts: Sequence[IndexDocument], deletes: Sequence[tuple[str, int]]) -> None:
        await self._engine._write(self._uid, upserts, deletes)

    async def commit(self) -> None:
        client = self._engine.client
        live = self._engine.uid(self._kind)
        task = await client.swap_indexes([(live, self._uid)])
        await self._engine.wait(task.task_uid)
        # After the swap, the temporary uid holds the previous live documents.
        await self._engine.wait((await client.index(self._uid).delete()).task_uid)

    async def abort(self) -> None:
        await self._engine.wait((await self._engine.client.index(self._uid).delete()).task_uid)


class MeiliEngine(SearchEngine):
    """Two Meilisearch indexes, one per kind."""

    name = "meilisearch"

    def __init__(self, client: AsyncClient, segmenter: Segmenter, *, prefix: str, task_timeout_ms: int) -> None:
        self.client = client
        self.segmenter = segmenter
        self.prefix = prefix
        self.task_timeout_ms = task_timeout_ms

    def uid(self, kind: Kind) -> str:
        """The live index uid of a kind."""
        return f"{self.prefix}{kind}s"

    async def wait(self, task_uid: int) -> None:
        """Wait for a task to succeed (raises when it failed or timed out)."""
        await self.client.wait_for_task(task_uid, timeout_in_ms=self.task_timeout_ms, raise_for_status=True)

    async def _create(self, uid: str) -> None:
        if await self.client.get_raw_index(uid) is None:
            await self.client.create_index(uid, primary_key="id", wait=True, timeout_in_ms=self.task_timeout_ms)
        task = await self.client.index(uid).update_settings(INDEX_SETTINGS)
        await self.wait(task.task_uid)

    async def open(self) -> None:
        for kind in KINDS:
            await self._create(self.uid(kind))

    async def close(self) -> None:
        await self.client.aclose()

    async def _write(self, uid: str, upserts: Sequence[IndexDocument], deletes: Sequence[tuple[str, int]]) -> None:
        index = self.client.index(uid)
        last: int | None = None
        if upserts:
            documents = [_document(doc, self.segmenter) for doc in upserts]
            last = (await index.add_documents(documents, primary_key="id")).task_uid
        if deletes:
            last = (await index.delete_documents([doc_id for doc_id, _ in deletes])).task_uid
        if last is not None:
            # Tasks of one index run in order: waiting for the last means all are done (searchable on return).
            await self.wait(last)

    async def apply(self, kind: Kind, upserts: Sequence[IndexDocument], deletes: Sequence[tuple[str, int]]) -> None:
        # Versions are already ordered by the search database (one row lock per document), so no read-back here.
        await self._write(self.uid(kind), upserts, deletes)

    async def search(self, query: SearchQuery, *, highlight: Sequence[str]) -> SearchResult:
        mapping = FACET_FIELDS[query.kind]
        sort: list[str] | None = None
        if query.sort == "price":
            sort = ["amount_min_fen:asc", "published_ts:desc"]
        elif query.sort == "newest" or not query.q.strip():
            sort = ["published_ts:desc"]
        filters = build_filter(query)
        results = await self.client.index(self.uid(query.kind)).search(
            query.q or None,
            offset=query.offset,
            limit=query.limit,
            filter=filters or None,  # type: ignore[arg-type]
            facets=[mapping[name] for name in query.facets] or None,
            sort=sort,
            attributes_to_retrieve=["id", "card", "snippet_source"],
            matching_strategy="all",
            show_ranking_score=bool(query.q.strip()),
            locales=["cmn"],
        )
        distribution = results.facet_distribution or {}
        facets = {
            name: {str(k): int(v) for k, v in (distribution.get(mapping[name]) or {}).items()} for name in query.facets
        }
        hits = [
            SearchHit(
                id=str(hit["id"]),
                score=float(hit["_rankingScore"]) if "_rankingScore" in hit else None,
                card=dict(hit.get("card") or {}),
                snippet=snippet(hit.get("snippet_source"), highlight),
            )
            for hit in results.hits
        ]
        total = results.estimated_total_hits if results.estimated_total_hits is not None else len(hits)
        return SearchResult(hits=hits, total=int(total), total_is_exact=False, facets=facets)

    async def indexed_versions(self, kind: Kind) -> dict[str, int]:
        index = self.client.index(self.uid(kind))
        out: dict[str, int] = {}
        offset = 0
        while True:
            page = await index.get_documents(offset=offset, limit=PAGE_SIZE, fields=["id", "version"])
            for document in page.results:
                out[str(document["id"])] = int(document["version"])
            offset += len(page.results)
            if not page.results or offset >= page.total:
                return out

    async def begin_rebuild(self, kind: Kind) -> IndexBuilder:
        uid = f"{self.uid(kind)}_rebuild_{uuid.uuid4().hex[:12]}"
        await self._create(uid)
        return _Builder(self, kind, uid)
