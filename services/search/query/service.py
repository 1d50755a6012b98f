"""Search rules: validate what the query parameters cannot express, run the engine, time it."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from services.search.engines import ranking
from services.search.engines.base import FACET_FIELDS, Kind, SearchEngine, SearchHit, SearchQuery, SearchResult
from services.search.segment import Segmenter
from shared.errors import ValidationFailed
from shared.reference.search_filters import check_search_filters

__all__ = ["PIVOTS", "QueryVector", "TimedResult", "parse_facets", "run_search", "run_similar", "validate_query"]

# How many of a long text's most salient words each lead one keyword search (run_similar).
PIVOTS = 3
# How much of a long text is embedded (an embedding model reads about 512 tokens; more is slower, not better).
SEMANTIC_TEXT_CHARS = 500

# The query's embedding, or None when no embedder is configured (the search is then lexical).
QueryVector = Callable[[str], Awaitable[tuple[float, ...] | None]]


@dataclass(frozen=True, slots=True)
class TimedResult:
    """An engine result, the query words it used, whether semantic similarity took part, and how long it took."""

    query: SearchQuery
    result: SearchResult
    elapsed_ms: float
    words: tuple[str, ...] = ()
    semantic: bool = False


def parse_facets(kind: Kind, raw: str | None) -> tuple[str, ...]:
    """The comma-separated facet names of a query; an unknown name is a 422 on ``facets``."""
    if raw is None or not raw.strip():
        return ()
    names = [name.strip() for name in raw.split(",") if name.strip()]
    allowed = FACET_FIELDS[kind]
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise ValidationFailed.field(
            "facets", f"unknown facet {unknown[0]!r}; allowed: {', '.join(allowed)}", type="facet_unknown"
        )
    return tuple(dict.fromkeys(names))


def validate_query(query: SearchQuery, *, amount_names: tuple[str, str]) -> None:
    """Cross-field and reference checks of a query (422 naming the parameter)."""
    check_search_filters(
        technical_field=query.technical_field,
        region=query.region,
        trl_min=query.trl_min,
        trl_max=query.trl_max,
        amount_min_fen=query.amount_min_fen,
        amount_max_fen=query.amount_max_fen,
        amount_names=amount_names,
    )


async def run_similar(
    *,
    engine: SearchEngine,
    segmenter: Segmenter,
    query: SearchQuery,
    text: str,
    query_vector: QueryVector | None = None,
) -> TimedResult:
    """The documents closest to a long text: a union of keyword searches, one per pivot word, fused with one
    semantic search (ranking.convex_fusion).

    Why pivots: every matching strategy makes one word (or group of words) mandatory — the first word with
    `last`, the rarest group with `frequency` — so a single search with a long text's words finds only documents
    holding that one word. Each of the PIVOTS most salient words leads one search (the other words follow in
    order of salience), so a document holding any of them is found, those holding more of the words first.
    """
    started = time.perf_counter()
    words = segmenter.keywords(text)
    if not words:
        raise ValidationFailed.field(
            "text", "has no searchable word (only stop words, punctuation or single characters)", type="no_words"
        )
    want = query.offset + query.limit
    page_query = dataclasses.replace(query, offset=0, limit=want, semantic_ratio=0.0, vector=None)
    highlight = segmenter.highlight_words(segmenter.query_terms(" ".join(words) + " "))
    keyword: dict[str, float] = {}
    hits: dict[str, SearchHit] = {}
    total = 0
    for pivot in words[:PIVOTS]:
        # A trailing space: every word is whole (no prefix matching of the last one).
        q = " ".join([pivot, *(w for w in words if w != pivot)]) + " "
        result = await engine.search(dataclasses.replace(page_query, q=q), highlight=highlight)
        total = max(total, result.total)
        for hit in result.hits:
            hits.setdefault(hit.id, hit)
            keyword[hit.id] = max(keyword.get(hit.id, 0.0), hit.score or 0.0)
    vector = None
    if query.semantic_ratio > 0 and query_vector is not None:
        vector = await query_vector(text[:SEMANTIC_TEXT_CHARS])
    semantic: list[tuple[str, float]] = []
    if vector is not None:
        meaning = dataclasses.replace(page_query, q=" ".join(words) + " ", semantic_ratio=1.0, vector=vector)
        result = await engine.search(meaning, highlight=highlight)
        total = max(total, result.total)
        for hit in result.hits:
            hits.setdefault(hit.id, hit)
            semantic.append((hit.id, hit.score or 0.0))
    # Without a semantic list the fusion is the keyword list, best first.
    page = ranking.convex_fusion(keyword, dict(semantic), query.semantic_ratio)[
        query.offset : query.offset + query.limit
    ]
    merged = [dataclasses.replace(hits[doc_id], score=score) for doc_id, score in page]
    return TimedResult(
        dataclasses.replace(query, q=" ".join(words), vector=vector),
        SearchResult(hits=merged, total=max(total, len(keyword)), total_is_exact=False, facets={}),
        round((time.perf_counter() - started) * 1000, 2),
        words=tuple(words),
        semantic=vector is not None,
    )


async def run_search(
    *,
    engine: SearchEngine,
    segmenter: Segmenter,
    query: SearchQuery,
    query_vector: QueryVector | None = None,
    meaning: str | None = None,
    q_field: str = "q",
) -> TimedResult:
    """Run a validated query on the configured engine; a q without any searchable word is a 422 on ``q_field``.

    ``meaning`` is the text embedded for semantic similarity (default: q itself): the whole sentence, not its
    keywords, is what an embedding model understands best.
    """
    started = time.perf_counter()
    terms = segmenter.query_terms(query.q) if query.q else []
    if query.q and not terms:
        raise ValidationFailed.field(
            q_field,
            "has no searchable word: only punctuation or words that carry no topic (寻求, 需要, 我们, 一种 …); "
            "leave it empty to list everything",
            type="no_words",
        )
    vector = None
    if terms and query.semantic_ratio > 0 and query_vector is not None:
        vector = await query_vector(meaning or query.q)
    query = dataclasses.replace(query, vector=vector, semantic_ratio=query.semantic_ratio if vector else 0.0)
    result = await engine.search(query, highlight=segmenter.highlight_words(terms))
    return TimedResult(
        query,
        result,
        round((time.perf_counter() - started) * 1000, 2),
        words=tuple(term.word for term in terms),
        semantic=vector is not None,
    )
