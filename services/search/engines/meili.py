"""The Meilisearch engine (production), written against Meilisearch v1.50.0 (docs/search.md names the sources).

Indexes: ``{prefix}achievements`` and ``{prefix}demands``. Settings are applied (and waited for) when the engine
opens and before a rebuilt index receives documents.

**Words.** Meilisearch segments Chinese itself (charabia: jieba without HMM, then long words split greedily into
dictionary bigrams/trigrams/characters), which is not our segmentation: a query word of ours may become several
Meilisearch words, changing what ``matchingStrategy`` drops and what must match. So the adapter indexes *our*
tokens (:meth:`Segmenter.index_tokens`: jieba search-mode words and the bigrams of long CJK words) and queries
*our* words (:meth:`Segmenter.query_terms`), each encoded by :func:`encode_word` as one lower-case ASCII word
that the server's tokenizer keeps whole: every character becomes four base-36 digits, so a prefix of a word
encodes to a prefix of its encoding (prefix search still works) and nothing is split or normalized away. The
searchable attributes are ``title_words``, ``keywords_words``, ``body_words`` (in that order, for the attribute
ranking rule). Cards and snippet texts are stored for display only; snippets are cut by our own function.

**Versions.** The server has no conditional write, and tasks run in enqueue order, so a write of version 2
enqueued after a write of version 3 would win. Each version is therefore its own document (primary key ``key`` =
``{id}_{version}``), a delete is a tombstone document (``deleted = 1``), and a batch is: add the documents, delete
by filter every older version of the ids written (``id = … AND version < v``), wait for both tasks, read back the
versions of those ids and delete any that is older than the newest present. Whatever the interleaving of
writers, once they have all returned each id has exactly its newest version (docs/search.md has the argument).
Searches and :meth:`MeiliEngine.indexed_versions` leave tombstones out (``deleted = 0``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import httpx

from services.search.engines.base import (
    FACET_FIELDS,
    KINDS,
    EngineRejected,
    IndexBuilder,
    IndexDocument,
    Kind,
    SearchEngine,
    SearchHit,
    SearchQuery,
    SearchResult,
    region_filter,
)
from services.search.engines.meili_client import MeiliClient, RetryPolicy, make_http_client
from services.search.engines.ranking import Distribution
from services.search.segment import QueryTerm, Segmenter, searchable_text, snippet, words_in
from services.search.stopwords import stop_words

__all__ = [
    "EMBEDDER",
    "MAX_TOTAL_HITS",
    "MeiliEngine",
    "build_filter",
    "encode_word",
    "index_settings",
    "make_client",
    "query_text",
]

logger = logging.getLogger("techmarket.search.meilisearch")

# Counts above this are reported as "at least": the server caps estimatedTotalHits at pagination.maxTotalHits
# (min(candidates, maxTotalHits), meilisearch/src/search/mod.rs). The cap costs nothing in offset/limit mode.
MAX_TOTAL_HITS = 10_000_000
MAX_FACET_VALUES = 100
EMBEDDER = "default"
PRIMARY_KEY = "key"
PAGE_SIZE = 1000
# Conditions per delete-by-filter task: one (id, version) condition each, OR-ed at the same depth.
FILTER_CHUNK = 200
SEARCHABLE = ("title_words", "keywords_words", "body_words")
FILTERABLE = (
    "id",
    "version",
    "deleted",
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
)
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_DOCUMENT_ID = re.compile(r"[A-Za-z0-9_-]{1,400}")


def encode_word(word: str) -> str:
    """One word as lower-case ASCII the server keeps as one word: four base-36 digits per character."""
    out: list[str] = []
    for char in word:
        code = ord(char)
        digits = [
            _BASE36[code // 36**3 % 36],
            _BASE36[code // 36**2 % 36],
            _BASE36[code // 36 % 36],
            _BASE36[code % 36],
        ]
        out.append("".join(digits))
    return "".join(out)


def _embedders(dimensions: int | None, distribution: Distribution | None) -> dict[str, Any] | None:
    """The ``embedders`` setting: our own vectors (``userProvided``); null resets to none."""
    if not dimensions:
        return None
    embedder: dict[str, Any] = {"source": "userProvided", "dimensions": dimensions}
    if distribution is not None:
        # Where the model's similarities are packed: the server re-centres them (milli DistributionShift).
        embedder["distribution"] = {"mean": distribution.mean, "sigma": distribution.sigma}
    return {EMBEDDER: embedder}


def index_settings(embedding_dimensions: int | None, distribution: Distribution | None = None) -> dict[str, Any]:
    """The settings body (PATCH /indexes/{uid}/settings); every field exists in v1.50.0's ``Settings``."""
    return {
        "searchableAttributes": list(SEARCHABLE),
        "filterableAttributes": list(FILTERABLE),
        "sortableAttributes": ["published_ts", "amount_min_fen", "written_seq"],
        # "sort" first: a date or price order applies before relevance (the embedded engine's order), and is a
        # no-op when a search has no sort. The last rule orders ties as the embedded engine does (latest first).
        "rankingRules": [
            "sort",
            "words",
            "typo",
            "proximity",
            "attributeRank",
            "wordPosition",
            "exactness",
            "written_seq:desc",
        ],
        "displayedAttributes": ["id", "version", "card", "snippet_source"],
        "stopWords": sorted(encode_word(word) for word in stop_words()),
        # Our encoded words are not language; "eng" keeps charabia from guessing a language (German would be
        # decompounded) and from applying any segmenter but the Latin one, which keeps [0-9a-z]+ whole.
        "localizedAttributes": [{"attributePatterns": ["*_words"], "locales": ["eng"]}],
        # No typos: a typo on an encoded word is not a typo on the word (and the embedded engine has none).
        "typoTolerance": {"enabled": False},
        "proximityPrecision": "byWord",
        "prefixSearch": "indexingTime",
        "pagination": {"maxTotalHits": MAX_TOTAL_HITS},
        "faceting": {"maxValuesPerFacet": MAX_FACET_VALUES, "sortFacetValuesBy": {"*": "count"}},
        # null resets: no embedder when none is configured (a leftover one would require _vectors).
        "embedders": _embedders(embedding_dimensions, distribution),
    }


def make_client(
    url: str,
    api_key: str | None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    retry: RetryPolicy | None = None,
    timeout_s: float = 10.0,
    poll_max_s: float = 0.25,
) -> MeiliClient:
    """A client of one Meilisearch server; ``transport`` replaces its network (tests put a fake server there)."""
    http = make_http_client(url, api_key, transport=transport, timeout_s=timeout_s)
    return MeiliClient(http, retry=retry, poll_max_s=poll_max_s)


def _literal(value: str | int) -> str:
    return str(value) if isinstance(value, int) else json.dumps(value, ensure_ascii=False)


def build_filter(query: SearchQuery) -> list[str]:
    """Meilisearch filter expressions (AND-ed as an array) for a query's filters; tombstones always left out."""
    out: list[str] = ["deleted = 0"]
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
    if query.exclude_owner_org_id is not None:
        out.append(f"owner_org_id != {_literal(query.exclude_owner_org_id)}")  # documents without an owner stay
    if query.exclude_ids:
        out.append(f"NOT id IN [{', '.join(_literal(doc_id) for doc_id in query.exclude_ids)}]")
    return out


def query_text(terms: Sequence[QueryTerm]) -> str:
    """The ``q`` that makes the server's query words ours: each word encoded, space-separated, and a trailing
    space unless the last word is a prefix (the server treats the last word as a prefix when nothing follows)."""
    if not terms:
        return ""
    text = " ".join(encode_word(term.word) for term in terms)
    return text if terms[-1].prefix else text + " "


def document_key(doc_id: str, version: int) -> str:
    """The primary key of one version of a document (ids outside [A-Za-z0-9_-] are hashed to fit the server)."""
    safe = doc_id if _DOCUMENT_ID.fullmatch(doc_id) else uuid.uuid5(uuid.NAMESPACE_URL, doc_id).hex
    return f"{safe}_{version}"


def _or_chunks(conditions: Sequence[str]) -> Iterable[str]:
    for start in range(0, len(conditions), FILTER_CHUNK):
        yield " OR ".join(conditions[start : start + FILTER_CHUNK])


class _Sequence:
    """Increasing write numbers (microseconds, then +1): ties in ranking go to the document written last."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def take(self, count: int) -> int:
        with self._lock:
            first = max(self._last + 1, time.time_ns() // 1000)
            self._last = first + count - 1
            return first


class _Writer:
    """Version-guarded writes into one index uid (see the module docstring)."""

    def __init__(self, engine: MeiliEngine, uid: str) -> None:
        self.engine = engine
        self.uid = uid

    def _documents(self, upserts: Sequence[IndexDocument], deletes: Sequence[tuple[str, int]]) -> list[dict[str, Any]]:
        """Server documents for a batch, newest version per id (a delete wins a tie)."""
        newest: dict[str, tuple[int, IndexDocument | None]] = {}
        for doc in upserts:
            if doc.id not in newest or doc.version > newest[doc.id][0]:
                newest[doc.id] = (doc.version, doc)
        for doc_id, version in deletes:
            if doc_id not in newest or version >= newest[doc_id][0]:
                newest[doc_id] = (version, None)
        seq = self.engine.sequence.take(len(newest))
        out: list[dict[str, Any]] = []
        for offset, (doc_id, (version, upsert)) in enumerate(newest.items()):
            if upsert is None:
                body = {PRIMARY_KEY: document_key(doc_id, version), "id": doc_id, "version": version, "deleted": 1}
            else:
                body = self.engine.document(upsert)
            body["written_seq"] = seq + offset
            if self.engine.embedding_dimensions:
                vector = None if upsert is None or upsert.vector is None else list(upsert.vector)
                # A userProvided embedder fails a document without _vectors.<name> ("attempt to embed ... user
                # provided"); null says "no vector yet".
                body["_vectors"] = {EMBEDDER: vector}
            out.append(body)
        return out

    def _payload(
        self, upserts: Sequence[IndexDocument], deletes: Sequence[tuple[str, int]]
    ) -> tuple[dict[str, int], bytes]:
        """The version written per id and the encoded body of the addition."""
        documents = self._documents(upserts, deletes)
        written = {body["id"]: int(body["version"]) for body in documents}
        return written, json.dumps(documents, ensure_ascii=False).encode()

    async def write(self, upserts: Sequence[IndexDocument], deletes: Sequence[tuple[str, int]]) -> None:
        if not upserts and not deletes:
            return
        client, path = self.engine.client, f"/indexes/{self.uid}/documents"
        # Segmentation (jieba, ~10 ms a long document) and JSON encoding run in a worker thread, off the event loop.
        written, payload = await asyncio.to_thread(self._payload, upserts, deletes)
        tasks = [await client.enqueue("POST", path, content=payload, idempotent=True, primaryKey=PRIMARY_KEY)]
        older = [f"(id = {_literal(doc_id)} AND version < {version})" for doc_id, version in written.items()]
        for expression in _or_chunks(older):
            tasks.append(await client.enqueue("POST", f"{path}/delete", json={"filter": expression}, idempotent=True))
        await client.wait_all(tasks, timeout_ms=self.engine.task_timeout_ms)
        # Read back: a version of ours may have landed after a newer one (enqueued after its writer's cleanup).
        present = await self.engine.versions(self.uid, f"id IN [{', '.join(_literal(i) for i in written)}]")
        stale = [
            f"(id = {_literal(doc_id)} AND version < {max(versions)})"
            for doc_id, versions in present.items()
            if len(versions) > 1
        ]
        cleanup = [
            await client.enqueue("POST", f"{path}/delete", json={"filter": expression}, idempotent=True)
            for expression in _or_chunks(stale)
        ]
        await client.wait_all(cleanup, timeout_ms=self.engine.task_timeout_ms)


class _Builder(IndexBuilder):
    def __init__(self, engine: MeiliEngine, kind: Kind, uid: str) -> None:
        self._engine = engine
        self._kind = kind
        self._writer = _Writer(engine, uid)

    async def apply(self, upserts: Sequence[IndexDocument], deletes: Sequence[tuple[str, int]]) -> None:
        await self._writer.write(upserts, deletes)

    async def commit(self) -> None:
        engine, temporary = self._engine, self._writer.uid
        body = [{"indexes": [engine.uid(self._kind), temporary], "rename": False}]
        # Not idempotent: a swap sent twice swaps back, so it is retried only when it surely was not received.
        task = await engine.client.enqueue("POST", "/swap-indexes", json=body, idempotent=False)
        await engine.client.wait(task, timeout_ms=engine.task_timeout_ms)
        # The temporary uid now holds the previous live documents. A failure here leaves it behind: the next
        # rebuild of this kind deletes it.
        try:
            await engine.drop(temporary)
        except Exception:
            logger.exception("could not delete %s after the swap; the next rebuild removes it", temporary)

    async def abort(self) -> None:
        await self._engine.drop(self._writer.uid)


class MeiliEngine(SearchEngine):
    """Two Meilisearch indexes, one per kind."""

    name = "meilisearch"

    def __init__(
        self,
        client: MeiliClient,
        segmenter: Segmenter,
        *,
        prefix: str,
        task_timeout_ms: int,
        embedding_dimensions: int | None = None,
        distribution: Distribution | None = None,
    ) -> None:
        self.client = client
        self.segmenter = segmenter
        self.prefix = prefix
        self.task_timeout_ms = task_timeout_ms
        self.embedding_dimensions = embedding_dimensions
        self.distribution = distribution
        self.sequence = _Sequence()

    def uid(self, kind: Kind) -> str:
        """The live index uid of a kind."""
        return f"{self.prefix}{kind}s"

    def document(self, doc: IndexDocument) -> dict[str, Any]:
        """The server document of one version (segmentation included: call it off the event loop)."""

        def words(text: str | None) -> str:
            return " ".join(encode_word(token) for token in self.segmenter.index_tokens(text)) if text else ""

        return {
            PRIMARY_KEY: document_key(doc.id, doc.version),
            "id": doc.id,
            "version": doc.version,
            "deleted": 0,
            "title_words": words(doc.title),
            "keywords_words": words(doc.keywords),
            "body_words": words(doc.body),
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

    async def _ensure(self, uid: str) -> None:
        """Create the index when missing (primary key ``key``) and apply the settings; wait for both."""
        info = await self.client.request("GET", f"/indexes/{uid}", idempotent=True, not_found_ok=True)
        if info is None:
            task = await self.client.enqueue(
                "POST", "/indexes", json={"uid": uid, "primaryKey": PRIMARY_KEY}, idempotent=True
            )
            try:
                await self.client.wait(task, timeout_ms=self.task_timeout_ms)
            except EngineRejected as exc:
                if exc.code != "index_already_exists":  # created meanwhile (another process, or our own retry)
                    raise
        elif info.get("primaryKey") not in (None, PRIMARY_KEY):
            raise EngineRejected(
                f"index {uid} has primary key {info.get('primaryKey')!r}, not {PRIMARY_KEY!r}: it was made by an "
                "older adapter; delete it and run `techmarket search reindex`",
                code="index_primary_key_already_exists",
            )
        task = await self.client.enqueue(
            "PATCH",
            f"/indexes/{uid}/settings",
            json=index_settings(self.embedding_dimensions, self.distribution),
            idempotent=True,
        )
        await self.client.wait(task, timeout_ms=self.task_timeout_ms)

    async def drop(self, uid: str) -> None:
        """Delete an index (and wait); one that is already gone is fine."""
        task = await self.client.enqueue("DELETE", f"/indexes/{uid}", idempotent=True)
        try:
            await self.client.wait(task, timeout_ms=self.task_timeout_ms)
        except EngineRejected as exc:
            if exc.code != "index_not_found":
                raise

    async def open(self) -> None:
        try:
            for kind in KINDS:
                await self._ensure(self.uid(kind))
        except BaseException:
            await self.client.aclose()
            raise

    async def close(self) -> None:
        await self.client.aclose()

    async def apply(self, kind: Kind, upserts: Sequence[IndexDocument], deletes: Sequence[tuple[str, int]]) -> None:
        await _Writer(self, self.uid(kind)).write(upserts, deletes)

    def _search_body(self, query: SearchQuery, terms: Sequence[QueryTerm]) -> dict[str, Any]:
        mapping = FACET_FIELDS[query.kind]
        # As the embedded engine: meaning blends into a relevance order of a query with words, not into browsing or
        # a date/price order.
        semantic = (
            bool(terms)
            and query.sort == "relevance"
            and query.vector is not None
            and query.semantic_ratio > 0
            and self.embedding_dimensions is not None
        )
        body: dict[str, Any] = {
            "offset": query.offset,
            "limit": query.limit,
            "filter": build_filter(query),
            "attributesToRetrieve": ["id", "card", "snippet_source"],
            "matchingStrategy": query.matching,
            "showRankingScore": bool(terms),
        }
        if terms:
            body["q"] = query_text(terms)
            body["locales"] = ["eng"]
        if query.facets:
            body["facets"] = [mapping[name] for name in query.facets]
        if query.sort == "price":
            body["sort"] = ["amount_min_fen:asc", "published_ts:desc"]
        elif query.sort == "newest" or not terms:
            body["sort"] = ["published_ts:desc"]
        if semantic:
            assert query.vector is not None
            body["hybrid"] = {"embedder": EMBEDDER, "semanticRatio": min(1.0, query.semantic_ratio)}
            body["vector"] = list(query.vector)
        return body

    async def search(self, query: SearchQuery, *, highlight: Sequence[str]) -> SearchResult:
        terms = self.segmenter.query_terms(query.q) if query.q else []
        body = self._search_body(query, terms)
        answer = await self.client.request(
            "POST", f"/indexes/{self.uid(query.kind)}/search", json=body, idempotent=True
        )
        mapping = FACET_FIELDS[query.kind]
        distribution = answer.get("facetDistribution") or {}
        facets = {
            name: {str(k): int(v) for k, v in (distribution.get(mapping[name]) or {}).items()} for name in query.facets
        }
        hits = []
        for hit in answer.get("hits", []):
            card = dict(hit.get("card") or {})
            source_text = hit.get("snippet_source")
            hits.append(
                SearchHit(
                    id=str(hit["id"]),
                    score=float(hit["_rankingScore"]) if "_rankingScore" in hit else None,
                    card=card,
                    snippet=snippet(source_text, highlight),
                    matched_terms=tuple(words_in(searchable_text(card, source_text), terms)),
                )
            )
        total = int(answer.get("estimatedTotalHits", answer.get("totalHits", len(hits))))
        # The count is the server's candidate set, exact below the cap (meilisearch/src/search/mod.rs).
        return SearchResult(hits=hits, total=total, total_is_exact=total < MAX_TOTAL_HITS, facets=facets)

    async def versions(self, uid: str, expression: str) -> dict[str, list[int]]:
        """Every version present in ``uid`` of the documents matching ``expression``, by id."""
        out: defaultdict[str, list[int]] = defaultdict(list)
        offset = 0
        while True:
            body = {"filter": expression, "fields": ["id", "version"], "limit": PAGE_SIZE, "offset": offset}
            page = await self.client.request("POST", f"/indexes/{uid}/documents/fetch", json=body, idempotent=True)
            for document in page["results"]:
                out[str(document["id"])].append(int(document["version"]))
            offset += len(page["results"])
            if not page["results"] or offset >= int(page["total"]):
                return dict(out)

    async def indexed_versions(self, kind: Kind) -> dict[str, int]:
        present = await self.versions(self.uid(kind), "deleted = 0")
        return {doc_id: max(versions) for doc_id, versions in present.items()}

    async def _leftovers(self, kind: Kind) -> list[str]:
        """Rebuild indexes of ``kind`` that a crashed rebuild left behind."""
        stem, offset = f"{self.uid(kind)}_rebuild_", 0
        out: list[str] = []
        while True:
            page = await self.client.request(
                "GET", "/indexes", params={"offset": str(offset), "limit": "100"}, idempotent=True
            )
            out.extend(str(i["uid"]) for i in page["results"] if str(i["uid"]).startswith(stem))
            offset += len(page["results"])
            if not page["results"] or offset >= int(page["total"]):
                return out

    async def begin_rebuild(self, kind: Kind) -> IndexBuilder:
        # One rebuild of a kind at a time (the reindex command): an index of an earlier, interrupted one is stale.
        for leftover in await self._leftovers(kind):
            logger.warning("deleting %s, left behind by an interrupted rebuild", leftover)
            await self.drop(leftover)
        uid = f"{self.uid(kind)}_rebuild_{uuid.uuid4().hex[:12]}"
        await self._ensure(uid)
        return _Builder(self, kind, uid)
