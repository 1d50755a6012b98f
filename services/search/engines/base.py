"""The one interface every search engine implements, and the engine-neutral shapes it speaks.

Domain code builds :class:`IndexDocument` values and :class:`SearchQuery` values and never learns which engine
answers. Field names here are the engine's internal, kind-neutral names: ``trl`` is an achievement's TRL or a
demand's desired TRL, ``modes`` its transfer or cooperation modes, ``amount_*`` its price or budget range.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from services.search.engines.errors import EngineAuthFailed, EngineError, EngineRejected, EngineUnavailable
from shared.reference.regions import Level, region_level

__all__ = [
    "FACET_FIELDS",
    "KINDS",
    "EngineAuthFailed",
    "EngineError",
    "EngineRejected",
    "EngineUnavailable",
    "IndexBuilder",
    "IndexDocument",
    "Kind",
    "MatchingStrategy",
    "SearchEngine",
    "SearchHit",
    "SearchQuery",
    "SearchResult",
    "Sort",
    "region_filter",
]

Kind = Literal["achievement", "demand"]
KINDS: tuple[Kind, ...] = ("achievement", "demand")
Sort = Literal["relevance", "newest", "price"]
# Meilisearch's matchingStrategy, with its meaning: which documents match when not all query words do.
#   last      — all words first, then drop words from the end of the query one at a time (default);
#   all       — only documents holding every word;
#   frequency — all words first, then drop the most frequent word (in the index) one at a time.
MatchingStrategy = Literal["last", "all", "frequency"]

# Facet names of the API → the internal field each one counts.
FACET_FIELDS: dict[Kind, dict[str, str]] = {
    "achievement": {
        "technical_field": "technical_field",
        "region": "region_city",
        "trl": "trl",
        "ip_type": "ip_type",
        "transfer_mode": "modes",
    },
    "demand": {
        "technical_field": "technical_field",
        "region": "region_city",
        "trl": "trl",
        "cooperation_mode": "modes",
    },
}


# The internal field holding a document's region at each level of the hierarchy (see IndexDocument).
_REGION_FIELDS: dict[Level, str] = {"province": "region_province", "prefecture": "region_city", "county": "region_code"}


def region_filter(code: str) -> tuple[str, str]:
    """The internal field and value a region code filters on: its province, its prefecture or itself."""
    return _REGION_FIELDS[region_level(code)], code


@dataclass(frozen=True, slots=True)
class IndexDocument:
    """One searchable document as the engines store it (built from whitelisted fields only)."""

    kind: Kind
    id: str
    version: int
    title: str
    keywords: str
    body: str
    snippet_source: str
    technical_field: str | None
    region_code: str | None
    region_city: str | None
    region_province: str | None
    trl: int | None
    ip_type: str | None
    modes: tuple[str, ...]
    amount_min_fen: int | None
    amount_max_fen: int | None
    owner_org_id: str | None
    published_ts: float | None
    card: dict[str, Any] = field(default_factory=dict)
    # The document's embedding (unit length) when one has been computed for its text; None while pending or
    # when no embedder is configured. Engines keep it for semantic (hybrid) search.
    vector: tuple[float, ...] | None = None


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A validated search: free text, filters, facets, sort and a page."""

    kind: Kind
    q: str = ""
    technical_field: str | None = None
    region: str | None = None
    trl_min: int | None = None
    trl_max: int | None = None
    amount_min_fen: int | None = None
    amount_max_fen: int | None = None
    ip_type: str | None = None
    mode: str | None = None
    owner_org_id: str | None = None
    # Leave out one organization's documents and some ids (suggestions never show a listing's own side).
    exclude_owner_org_id: str | None = None
    exclude_ids: tuple[str, ...] = ()
    facets: tuple[str, ...] = ()
    sort: Sort = "relevance"
    limit: int = 20
    offset: int = 0
    matching: MatchingStrategy = "last"
    # Share of semantic similarity in the ranking, 0 (lexical only) to 1 (semantic only), as Meilisearch's
    # hybrid.semanticRatio; used only with ``vector`` (the query's embedding).
    semantic_ratio: float = 0.0
    vector: tuple[float, ...] | None = None


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One result: the document's id, its relevance score in 0..1 (None without a query), its card, a snippet
    and the query words the document holds."""

    id: str
    score: float | None
    card: dict[str, Any]
    snippet: str
    matched_terms: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SearchResult:
    """A page of hits, the number of matches (exact or estimated) and facet counts by API facet name."""

    hits: list[SearchHit]
    total: int
    total_is_exact: bool
    facets: dict[str, dict[str, int]]


class IndexBuilder(abc.ABC):
    """A new index being built beside the live one; :meth:`commit` swaps it in atomically."""

    @abc.abstractmethod
    async def apply(self, upserts: Sequence[IndexDocument], deletes: Sequence[tuple[str, int]]) -> None:
        """Write documents into the new index (newer versions win, as in :meth:`SearchEngine.apply`)."""

    @abc.abstractmethod
    async def commit(self) -> None:
        """Make the new index the live one (readers switch without downtime) and drop the old one."""

    @abc.abstractmethod
    async def abort(self) -> None:
        """Drop the new index; the live one is untouched."""


class SearchEngine(abc.ABC):
    """A full-text engine holding one index per kind. Failures raise :class:`EngineError` subclasses only."""

    name: str

    @abc.abstractmethod
    async def open(self) -> None:
        """Create the indexes (with their settings) when missing and get ready to serve."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections and files."""

    @abc.abstractmethod
    async def apply(self, kind: Kind, upserts: Sequence[IndexDocument], deletes: Sequence[tuple[str, int]]) -> None:
        """Upsert documents and delete ``(id, version)`` pairs; done (searchable) when this returns."""

    @abc.abstractmethod
    async def search(self, query: SearchQuery, *, highlight: Sequence[str]) -> SearchResult:
        """Run a query; ``highlight`` lists the strings to wrap in ``<em>`` in snippets."""

    @abc.abstractmethod
    async def indexed_versions(self, kind: Kind) -> dict[str, int]:
        """Every document id in the live index of ``kind`` with its version."""

    @abc.abstractmethod
    async def begin_rebuild(self, kind: Kind) -> IndexBuilder:
        """Start building a fresh index of ``kind`` beside the live one."""
