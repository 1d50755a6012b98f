"""Percolation rules: validate every query as the search API does, then match the listing against each one.

Why an in-memory one-document index rather than the live index: the answer must not depend on what else is
published (nor on the engine's paging), and a search per query would cost 10,000 searches per published listing.
The match rules are the embedded engine's own code (DocumentMatcher), and both engines match alike (the engines'
differential suite), so the answer is what either engine's search would return.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from services.search.documents.schemas import DocumentOperation
from services.search.documents.service import field_errors, is_searchable, parse_fields, to_index_document
from services.search.engines.base import Kind, SearchQuery
from services.search.engines.embedded import DocumentMatcher
from services.search.percolate.schemas import PercolateMatch, PercolateQuery
from services.search.query.service import validate_query
from services.search.segment import QueryTerm, Segmenter, snippet
from shared.errors import ProblemError, ValidationFailed

__all__ = ["QUERY_WORDS_CACHE", "percolate", "search_queries"]

# Segmented queries kept per process: saved searches are few and stable, and segmenting is most of the cost of
# percolating a listing against thousands of them (bench/percolate.py).
QUERY_WORDS_CACHE = 50_000

# Filters that exist for one kind only (GET /demands has no ip_type or transfer_mode, GET /achievements no
# cooperation_mode).
_OTHER_KINDS_FILTERS: dict[Kind, tuple[str, ...]] = {
    "achievement": ("cooperation_mode",),
    "demand": ("ip_type", "transfer_mode"),
}


@functools.lru_cache(maxsize=QUERY_WORDS_CACHE)
def _words(segmenter: Segmenter, q: str) -> tuple[tuple[QueryTerm, ...], tuple[str, ...]]:
    """A query's words and the strings its snippets highlight (as run_search computes them)."""
    terms = segmenter.query_terms(q) if q else []
    return tuple(terms), tuple(segmenter.highlight_words(terms))


def search_queries(kind: Kind, queries: Sequence[PercolateQuery]) -> list[SearchQuery]:
    """The search of each query, checked as GET /{kind} checks its parameters (422 on ``queries.{i}.{field}``)."""
    out: list[SearchQuery] = []
    for position, item in enumerate(queries):
        for name in _OTHER_KINDS_FILTERS[kind]:
            if getattr(item, name) is not None:
                raise ValidationFailed.field(f"queries.{position}.{name}", f"{kind}s have no {name} filter")
        query = SearchQuery(
            kind=kind,
            q=item.q.strip(),
            technical_field=item.technical_field,
            region=item.region,
            trl_min=item.trl_min,
            trl_max=item.trl_max,
            amount_min_fen=item.amount_min,
            amount_max_fen=item.amount_max,
            ip_type=item.ip_type,
            mode=item.transfer_mode if kind == "achievement" else item.cooperation_mode,
            matching=item.matching,
        )
        try:
            validate_query(query, amount_names=("amount_min", "amount_max"))
        except ProblemError as exc:
            raise _located(exc, position) from exc
        out.append(query)
    return out


def _located(exc: ProblemError, position: int) -> ValidationFailed:
    """A query's validation error with the query's index in each field path."""
    return _failed([{**error, "field": f"queries.{position}.{error['field']}"} for error in exc.errors or []])


def _failed(errors: list[dict[str, Any]]) -> ValidationFailed:
    """A 422 naming each field (the detail sums up the first five)."""
    return ValidationFailed("; ".join(f"{e['field']}: {e['message']}" for e in errors[:5]), errors=errors)


def percolate(
    *, segmenter: Segmenter, kind: Kind, document: DocumentOperation, queries: Sequence[PercolateQuery]
) -> list[PercolateMatch]:
    """The queries a search would return the document for, in the given order (CPU-bound: run it in a thread).

    Everything is validated first (422, nothing matched halfway): the document's kind and fields, every query.
    A delete, or a document whose status is not searchable, matches nothing.
    """
    if document.kind != kind:
        raise ValidationFailed.field("document.kind", f"must be {kind}, the kind of the path")
    searches = search_queries(kind, queries)
    if document.op == "delete" or document.fields is None:
        return []
    try:
        fields = parse_fields(kind, document.fields)
    except PydanticValidationError as exc:
        raise _failed(field_errors(exc, "document.fields")) from exc
    if not is_searchable(kind, fields):
        return []
    indexed = to_index_document(kind, str(document.id), document.version, fields)
    matcher = DocumentMatcher(indexed, segmenter)
    try:
        matches: list[PercolateMatch] = []
        for item, search in zip(queries, searches, strict=True):
            terms, highlight = _words(segmenter, search.q)
            if search.q and not terms:
                continue  # no searchable word: the search API refuses it (422), so it finds nothing
            found = matcher.match(search, terms)
            if found is None:
                continue
            matches.append(
                PercolateMatch(
                    key=item.key,
                    score=found.rank / found.groups if terms else None,
                    snippet=snippet(indexed.snippet_source, highlight),
                    matched_terms=list(found.matched),
                )
            )
        return matches
    finally:
        matcher.close()
