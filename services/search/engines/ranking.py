"""Relevance rules the embedded engine shares with Meilisearch's semantics: matching strategies, 0..1 scores, hybrid.

Matching strategy (Meilisearch's ``matchingStrategy``; milli ``search/new/query_graph.rs``, the
``removal_order_for_terms_matching_strategy_*`` functions): the query words are put in *groups* that are dropped
one after the other until one group is left, which is mandatory:

- ``last``: one word a group, dropped from the end of the query: the first word is mandatory;
- ``frequency``: words grouped by the number of documents holding them, the most frequent group dropped first;
  a word no document holds counts as the most frequent of all (dropped first), so a stray word never empties the
  result; the rarest group is mandatory;
- ``all``: nothing is dropped.

A document's **word rank** is the number of leading groups (in keep order: mandatory first) whose words it all
holds; documents without the mandatory group are no match. Buckets rank first (more groups before fewer),
relevance (BM25) within a bucket.

Keyword score in 0..1: ``((k - 1) + bm25 / (bm25 + BM25_HALF)) / g`` with g groups — monotone in the bucket, then
in BM25, so sorting by score is sorting by relevance; a document with every word and a strong BM25 approaches 1.

Semantic similarity (milli's vector sort over arroy's cosine distance ``(1 - cos) / 2``): ``(1 + cos) / 2``,
optionally re-centred by the embedder's distribution (mean, sigma) to a gaussian around 0.5 with sigma 0.4,
clamped to ]0, 1] (milli ``DistributionShift::shift``).

Hybrid (milli ``search/hybrid.rs``): keyword hits weighted by ``1 - ratio`` and semantic hits by ``ratio`` are
merged by weighted score, the first occurrence of a document wins, then the page is cut. When the keyword hits
alone fill the page and each one's score × (1 − ratio) is at least 0.45, the semantic search is skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from services.search.engines.base import MatchingStrategy

__all__ = [
    "BM25_HALF",
    "GOOD_ENOUGH_SCORE",
    "Distribution",
    "contains",
    "convex_fusion",
    "keep_order",
    "keyword_results_good_enough",
    "keyword_score",
    "merge_hybrid",
    "similarity",
    "word_ranks",
]

K = TypeVar("K")

# The BM25 value that maps to half of a bucket's score span (BM25 here is ≈ 5–30 for a title match).
BM25_HALF = 10.0
# milli's hybrid.rs: keyword results this good (after weighting) make the semantic search unnecessary.
GOOD_ENOUGH_SCORE = 0.45


@dataclass(frozen=True, slots=True)
class Distribution:
    """Where an embedder's similarities are packed (Meilisearch's embedder ``distribution``)."""

    mean: float
    sigma: float


def contains(sorted_ids: npt.NDArray[np.int64], values: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Which of ``values`` are in ``sorted_ids`` (sorted, as FTS5 yields rowids): a binary search per value,
    cheaper than ``np.isin``, which sorts or hashes the large side on every call."""
    if not len(sorted_ids):
        return np.zeros(len(values), dtype=np.bool_)
    at = np.searchsorted(sorted_ids, values)
    found: npt.NDArray[np.bool_] = sorted_ids[np.minimum(at, len(sorted_ids) - 1)] == values
    return found


def keep_order(strategy: MatchingStrategy, frequencies: Sequence[int]) -> list[list[int]]:
    """The query words (indexes) in groups, in the order they are kept: the first group is mandatory, the last
    one is dropped first."""
    if strategy == "all" or not frequencies:
        return [list(range(len(frequencies)))]
    if strategy == "last":
        return [[i] for i in range(len(frequencies))]
    # A word no document holds weighs as the most frequent (milli maps a frequency of 0 to u64::MAX).
    weight = [f if f else float("inf") for f in frequencies]
    groups: dict[float, list[int]] = {}
    for i in sorted(range(len(frequencies)), key=lambda i: weight[i]):
        groups.setdefault(weight[i], []).append(i)
    return list(groups.values())


def word_ranks(
    matches: Sequence[npt.NDArray[np.int64]], strategy: MatchingStrategy
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int8], int]:
    """The matching documents (sorted ids), each one's word rank and the number of groups, from each word's sorted
    matching ids."""
    groups = keep_order(strategy, [len(m) for m in matches])
    universe = matches[groups[0][0]]
    for word in groups[0][1:]:
        universe = np.intersect1d(universe, matches[word], assume_unique=True)
    ranks = np.ones(len(universe), dtype=np.int8)
    holding = np.ones(len(universe), dtype=np.bool_)
    for rank, group in enumerate(groups[1:], start=2):
        for word in group:
            holding &= contains(matches[word], universe)
        ranks[holding] = rank
    return universe, ranks, len(groups)


def keyword_score(rank: int, groups: int, bm25: float) -> float:
    """A keyword hit's score in 0..1 from its word rank, the number of word groups and its (positive) BM25."""
    relevance = bm25 / (bm25 + BM25_HALF) if bm25 > 0 else 0.0
    return ((rank - 1) + relevance) / groups


def similarity(cosines: npt.NDArray[np.float32], distribution: Distribution | None) -> npt.NDArray[np.float64]:
    """Semantic scores in ]0, 1] from cosine similarities."""
    scores = (1.0 + cosines.astype(np.float64)) / 2.0
    if distribution is not None:
        factor = 0.4 / distribution.sigma
        scores = factor * scores + (0.5 - factor * distribution.mean)
        scores = np.clip(scores, np.finfo(np.float32).eps, 1.0)
    return scores


def keyword_results_good_enough(keyword: Sequence[tuple[K, float]], want: int, ratio: float) -> bool:
    """Whether the keyword hits (document, score) alone answer a hybrid query (milli's ``results_good_enough``)."""
    if len(keyword) < want:
        return False
    return all(score * (1.0 - ratio) >= GOOD_ENOUGH_SCORE for _, score in keyword)


def merge_hybrid(
    keyword: Sequence[tuple[K, float]], semantic: Sequence[tuple[K, float]], ratio: float, offset: int, limit: int
) -> list[tuple[K, float]]:
    """One page of two ranked lists of (document, score), each best first, merged by weighted score: semantic
    first on ties, a document only where it first appears."""
    out: list[tuple[K, float]] = []
    seen: set[K] = set()
    k = s = 0
    skipped = 0
    while (k < len(keyword) or s < len(semantic)) and len(out) < limit:
        take_semantic = k >= len(keyword) or (
            s < len(semantic) and semantic[s][1] * ratio >= keyword[k][1] * (1.0 - ratio)
        )
        if take_semantic:
            hit = semantic[s]
            s += 1
        else:
            hit = keyword[k]
            k += 1
        if hit[0] in seen:
            continue
        seen.add(hit[0])
        if skipped < offset:
            skipped += 1
            continue
        out.append(hit)
    return out


def convex_fusion(keyword: dict[K, float], semantic: dict[K, float], ratio: float) -> list[tuple[K, float]]:
    """Every document of either list, by ``(1 - ratio) · keyword + ratio · semantic`` (best first), the semantic
    scores min-max normalized over the list (a document not in it counts as its lowest), a missing keyword score
    as 0.

    Not Meilisearch's merge (``merge_hybrid``), which interleaves the lists by their own scores: an embedding
    model's similarities are packed in a narrow band (multilingual-e5-small: 0.92 ± 0.008 as (1 + cos) / 2 on
    the real patents), so there the semantic list wins every comparison at any ratio above ~0.1, and a
    distribution shift clamps the best ones to 1 and loses their order. Summing normalized scores lets a
    document that is good on both sides rise: topical p@5 0.254 → 0.272 on bench/match.py (docs/benchmarks.md).
    """
    if not semantic:
        return sorted(keyword.items(), key=lambda item: -item[1])
    floor = min(semantic.values())
    span = (max(semantic.values()) - floor) or 1.0
    fused = {
        doc: (1.0 - ratio) * keyword.get(doc, 0.0) + ratio * (semantic.get(doc, floor) - floor) / span
        for doc in {**keyword, **semantic}
    }
    return sorted(fused.items(), key=lambda item: -item[1])
