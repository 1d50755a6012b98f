"""One index of the fake: documents, settings, and search as milli v1.50.0 runs it (a model, not a port).

Search follows crates/milli/src/search/new/mod.rs and crates/meilisearch/src/search/mod.rs:

- **Query words** (query_term/parse_query.rs): charabia tokens of ``q``; at most 10 terms; a stop word is skipped
  unless it is the last token; the last token is a prefix term unless a separator follows it (and prefixSearch
  is not ``disabled``); a hard separator moves the position by 7. 2- and 3-grams of consecutive terms are
  alternatives (query_graph.rs ``from_query``, ``make_ngram``: the words concatenated), and a word also matches
  its best split into two adjacent indexed words (``split_best_frequency``). Typos: not modelled (the adapter
  disables them); phrases ("…") and the negative operator (-word): not modelled.
- **Matching strategy** (``removal_order_for_terms_matching_strategy_*``): ``last`` drops terms from the end,
  ``frequency`` drops the terms matching most documents first (equal frequencies together), ``all`` none; the
  last group is never dropped. The universe (and so the total) is the filtered documents matching the maximally
  reduced query; the ``words`` rule ranks by how many terms were kept.
- **Ranking rules** in settings order, ``words`` inserted before the first of typo/proximity/attribute*/
  exactness (get_ranking_rules_for_query_graph_search), ``sort`` expanded in place, ``attribute`` =
  attributeRank + wordPosition, ``exactness`` = exact attribute + exact words. Per document each rule gives a
  rank out of a maximum (typo: split words cost 1; proximity: 0..3 per adjacent pair, capped at MAX_DISTANCE 4;
  attributeRank: the field weight of the best field per term; wordPosition: cost_from_distance of the bucketed
  position; exactness: words present exactly). ``_rankingScore`` merges them as ``Rank::global_score``
  (score_details.rs). Approximation: maximum ranks are computed on single-term paths (ngram and split-word
  nodes can raise the server's maxima), so scores may differ slightly where those match; orders do not.
- **Placeholder search**: only sort and custom asc/desc rules; ties by internal document id.
- **Totals**: ``min(|candidates|, maxTotalHits)`` in both pagination modes; offset and limit capped by
  maxTotalHits.
- **Facets** (facet_distribution.rs): candidates' values, numbers before strings, capped at maxValuesPerFacet;
  ``alpha`` ascending, ``count`` by count then by value descending (the heap's tie order); strings grouped
  lower-cased. ``facetStats`` for numbers.
- **Hybrid** (hybrid.rs): keyword results unless "good enough", else a vector search over the filtered
  documents (similarity ``(1 + cos) / 2``, hannoy's cosine, re-centred by the embedder's ``distribution`` as
  vector/distribution.rs does; documents without a vector last, similarity none),
  merged with ``compare_scores`` weighted by semanticRatio; the total is the union of both candidate sets.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.search.fake_meilisearch import filters
from tests.search.fake_meilisearch.errors import ApiError
from tests.search.fake_meilisearch.settings import DEFAULTS
from tests.search.fake_meilisearch.tokenize import MAX_WORD_LENGTH, document_words, tokens

__all__ = ["Index", "SearchRequest"]

WORDS_LIMIT = 10
MAX_DISTANCE = 4
GOOD_ENOUGH_SCORE = 0.45
_GRAPH_RULES = ("words", "typo", "proximity", "attribute", "attributeRank", "wordPosition", "exactness")


def _cost_from_distance(distance: int) -> int:
    for limit, cost in ((0, 0), (1, 1), (4, 2), (7, 3), (11, 4), (16, 5), (24, 6), (64, 7), (256, 8), (1024, 9)):
        if distance <= limit:
            return cost
    return 10


def _bucketed(position: int) -> int:
    if position < 16:
        return position
    if position < 24:
        return 24
    return int(2 ** math.ceil(math.log2(position)))


def _proximity(left: int, right: int) -> int:
    return min(right - left, MAX_DISTANCE) if left <= right else min(left - right + 1, MAX_DISTANCE)


def _merge(outer: tuple[int, int], inner: tuple[int, int]) -> tuple[int, int]:
    """score_details.rs ``Rank::merge``."""
    rank, max_rank = outer
    return (max(rank - 1, 0) * inner[1] + inner[0], max_rank * inner[1])


def _global_score(ranks: Iterable[tuple[int, int]]) -> float:
    outer = (1, 1)
    for inner in ranks:
        outer = _merge(outer, inner)
    return outer[0] / outer[1]


def _shift(score: float, embedder: dict[str, Any]) -> float:
    """milli vector/distribution.rs ``DistributionShift::shift``: re-centred on 0.5 (sigma 0.4), clamped to ]0, 1]."""
    distribution = embedder.get("distribution")
    if not distribution:
        return score
    factor = 0.4 / distribution["sigma"]
    shifted = factor * score + (0.5 - factor * distribution["mean"])
    return min(1.0, shifted) if shifted > 0.0 else 1.1920929e-07  # f32::EPSILON


def _facet_number(value: float) -> str:
    """Rust's ``f64`` Display: integral values without a fraction."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass
class _Term:
    word: str
    prefix: bool
    position: int
    stop: bool = False


@dataclass
class _Doc:
    docid: int
    body: dict[str, Any]
    words: dict[int, list[tuple[str, int]]]  # searchable attribute weight → (word, position)
    vocabulary: set[str] = field(default_factory=set)


@dataclass
class SearchRequest:
    """A validated search body."""

    q: str | None = None
    offset: int = 0
    limit: int = 20
    page: int | None = None
    hits_per_page: int | None = None
    filter: Any = None
    sort: list[str] | None = None
    facets: list[str] | None = None
    attributes_to_retrieve: list[str] | None = None
    matching_strategy: str = "last"
    show_ranking_score: bool = False
    hybrid: dict[str, Any] | None = None
    vector: list[float] | None = None


@dataclass
class _Hit:
    docid: int
    key: tuple[Any, ...]
    ranks: list[tuple[int, int]]  # graph rules' (rank, max) in order, for the score
    values: list[tuple[str, Any]]  # ("rank", local score) / ("sort", (asc, value)) in rule order, for hybrid


class Index:
    """Documents by internal id (the smallest free id is reused, as milli's AvailableIds does)."""

    def __init__(self, uid: str, primary_key: str | None, now: str) -> None:
        self.uid = uid
        self.primary_key = primary_key
        self.created_at = now
        self.updated_at = now
        self.settings: dict[str, Any] = dict(DEFAULTS)
        self.docs: dict[int, _Doc] = {}
        self.external: dict[str, int] = {}

    # -- documents ------------------------------------------------------------------------------------------

    def _searchable(self, body: dict[str, Any]) -> list[str]:
        listed = self.settings["searchableAttributes"]
        return [key for key in body if not key.startswith("_")] if listed == ["*"] else list(listed)

    def _analyse(self, docid: int, body: dict[str, Any]) -> _Doc:
        stops = set(self.settings["stopWords"])
        words: dict[int, list[tuple[str, int]]] = {}
        for weight, name in enumerate(self._searchable(body)):
            value = body.get(name)
            if value is None:
                continue
            text = " ".join(str(v) for v in value) if isinstance(value, list) else str(value)
            # Stop words keep their position but are not indexed (milli skips them when extracting words).
            kept = [(w, p) for w, p in document_words(text) if w not in stops]
            if kept:
                words[weight] = kept
        vocabulary = {w for occurrences in words.values() for w, _ in occurrences}
        return _Doc(docid, body, words, vocabulary)

    def reanalyse(self) -> None:
        """Recompute every document's words (after a settings change, as the server re-indexes)."""
        for docid, doc in list(self.docs.items()):
            self.docs[docid] = self._analyse(docid, doc.body)

    def put(self, external_id: str, body: dict[str, Any]) -> None:
        docid = self.external.get(external_id)
        if docid is None:
            docid = next(i for i in range(len(self.docs) + 1) if i not in self.docs)
            self.external[external_id] = docid
        self.docs[docid] = self._analyse(docid, body)

    def remove(self, external_id: str) -> bool:
        docid = self.external.pop(external_id, None)
        if docid is None:
            return False
        del self.docs[docid]
        return True

    def ordered(self) -> list[_Doc]:
        return [self.docs[docid] for docid in sorted(self.docs)]

    # -- filters --------------------------------------------------------------------------------------------

    def filterable_names(self) -> list[str]:
        names: list[str] = []
        for rule in self.settings["filterableAttributes"]:
            if isinstance(rule, str):
                names.append(rule)
            else:
                names.extend(rule.get("attributePatterns", []))
        return names

    def is_filterable(self, name: str) -> bool:
        for pattern in self.filterable_names():
            if pattern == "*" or pattern == name or name.startswith(pattern + "."):
                return True
            if pattern.endswith("*") and name.startswith(pattern[:-1]):
                return True
            if pattern.startswith("*") and name.endswith(pattern[1:]):
                return True
        return False

    def parse_filter(self, value: Any, code: str, *, in_search: bool = False) -> filters.Node | None:
        """The parsed filter; a search names the index in an attribute error (as the search route does)."""
        try:
            return filters.parse(value, self.is_filterable, self.filterable_names())
        except filters.FilterError as exc:
            prefix = f"Index `{self.uid}`: " if in_search and exc.attribute else ""
            raise ApiError(400, code, f"{prefix}{exc}") from exc

    # -- query ----------------------------------------------------------------------------------------------

    def _terms(self, q: str) -> list[_Term]:
        stops = set(self.settings["stopWords"])
        allow_prefix = self.settings["prefixSearch"] != "disabled"
        parts = [t for t in tokens(q) if t.text]
        terms: list[_Term] = []
        position = -1
        for index, token in enumerate(parts):
            if len(terms) >= WORDS_LIMIT:
                break
            if token.separator:
                if token.hard:
                    position += 7
                continue
            position += 1
            last = index == len(parts) - 1
            stop = token.text in stops
            if not last and stop:
                continue
            terms.append(_Term(token.text, prefix=last and allow_prefix, position=position, stop=stop))
        return terms

    def _occurrences(self, doc: _Doc, word: str, prefix: bool) -> list[tuple[int, int, bool]]:
        """(field weight, position, exact) of the words matching ``word`` (and its prefix derivations)."""
        out = []
        for weight, occurrences in doc.words.items():
            for found, position in occurrences:
                if found == word:
                    out.append((weight, position, True))
                elif prefix and found.startswith(word):
                    out.append((weight, position, False))
        return out

    def _split(self, word: str) -> tuple[str, str] | None:
        """milli ``split_best_frequency``: the split into two adjacent indexed words found in most documents."""
        best: tuple[int, str, str] | None = None
        for cut in range(1, len(word)):
            left, right = word[:cut], word[cut:]
            count = 0
            for doc in self.docs.values():
                if left in doc.vocabulary and right in doc.vocabulary and self._adjacent(doc, left, right):
                    count += 1
            if count and (best is None or count > best[0]):
                best = (count, left, right)
        return None if best is None else (best[1], best[2])

    @staticmethod
    def _adjacent(doc: _Doc, left: str, right: str) -> bool:
        for occurrences in doc.words.values():
            positions = {p for w, p in occurrences if w == left}
            if any(w == right and p - 1 in positions for w, p in occurrences):
                return True
        return False


@dataclass
class _Alternative:
    """One way to match a run of terms: a word (single term or ngram) and its split."""

    first: int
    last: int
    word: str
    prefix: bool
    split: tuple[str, str] | None


class _Query:
    """The query graph of one search, resolved per document."""

    def __init__(self, index: Index, terms: list[_Term]) -> None:
        self.index = index
        self.terms = terms
        self.alternatives: list[_Alternative] = []
        for i, term in enumerate(terms):
            self.alternatives.append(_Alternative(i, i, term.word, term.prefix, index._split(term.word)))
            for size in (2, 3):
                start = i - size + 1
                if start < 0:
                    continue
                run = terms[start : i + 1]
                if any(b.position != a.position + 1 for a, b in itertools.pairwise(run)):
                    continue
                word = "".join(t.word for t in run)
                if len(word.encode()) > MAX_WORD_LENGTH:
                    continue
                self.alternatives.append(_Alternative(start, i, word, term.prefix, index._split(word)))
        self._cache: dict[tuple[int, int], dict[int, bool]] = {}

    def matches(self, alternative_index: int, doc: _Doc) -> bool:
        cache = self._cache.setdefault((alternative_index, 0), {})
        if doc.docid not in cache:
            alt = self.alternatives[alternative_index]
            found = bool(self.index._occurrences(doc, alt.word, alt.prefix))
            if not found and alt.split is not None:
                found = self.index._adjacent(doc, *alt.split)
            cache[doc.docid] = found
        return cache[doc.docid]

    def covers(self, doc: _Doc, kept: Sequence[int]) -> bool:
        """Whether ``doc`` matches every kept term, each by itself or inside an ngram of kept, adjacent terms."""
        kept_set = set(kept)
        reachable = {-1}
        ordered = sorted(kept)
        previous = -1
        for term in ordered:
            ends: set[int] = set()
            for index, alt in enumerate(self.alternatives):
                if alt.last != term:
                    continue
                span = range(alt.first, alt.last + 1)
                if not all(t in kept_set for t in span):
                    continue
                before = max((t for t in ordered if t < alt.first), default=-1)
                if before in reachable and self.matches(index, doc):
                    ends.add(term)
            reachable |= ends
            previous = term
        return previous in reachable

    def frequency(self, term: int) -> int:
        count = 0
        for doc in self.index.docs.values():
            if any(alt.first <= term <= alt.last and self.matches(i, doc) for i, alt in enumerate(self.alternatives)):
                count += 1
        return count

    def removal_groups(self, strategy: str) -> list[list[int]]:
        """The groups of terms dropped one after the other (the last one never dropped)."""
        n = len(self.terms)
        if strategy == "all" or n <= 1:
            return []
        if strategy == "last":
            groups = [[i] for i in range(n - 1, -1, -1)]
        else:
            frequencies = {i: self.frequency(i) or 2**64 for i in range(n)}
            order = sorted(range(n), key=lambda i: -frequencies[i])
            groups = []
            for i in order:
                if groups and frequencies[groups[-1][0]] == frequencies[i]:
                    groups[-1].append(i)
                else:
                    groups.append([i])
        return groups[:-1]


def _sort_key(value: Any, ascending: bool) -> tuple[int, Any]:
    """Sort rule order: values first (numbers before strings), documents without the field last."""
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        return (2, 0)
    if isinstance(value, (int, float)):
        return (0, float(value) if ascending else -float(value))
    text = str(value).lower()
    return (1, text if ascending else tuple(-ord(c) for c in text))


class Searcher:
    """Runs one search request on one index (the index's state at the time of the call)."""

    def __init__(self, index: Index, request: SearchRequest) -> None:
        self.index = index
        self.request = request
        self.settings = index.settings

    # -- rules ----------------------------------------------------------------------------------------------

    def _rules(self, sort: list[tuple[str, bool]], *, placeholder: bool) -> list[tuple[str, Any]]:
        rules: list[tuple[str, Any]] = []
        sorted_fields: set[str] = set()
        words = self.request.matching_strategy == "all"
        seen: set[str] = set()
        for rule in self.settings["rankingRules"]:
            if rule in _GRAPH_RULES:
                if placeholder:
                    continue
                if not words and rule != "words":
                    rules.append(("words", None))
                    words = True
                if rule == "words":
                    if not words:
                        rules.append(("words", None))
                        words = True
                    continue
                if rule == "attribute":
                    if "attributeRank" not in seen and "wordPosition" not in seen and "attribute" not in seen:
                        rules += [("attributeRank", None), ("wordPosition", None)]
                elif rule == "attributeRank":
                    if "attribute" not in seen and "attributeRank" not in seen:
                        rules.append(("attributeRank", None))
                elif rule == "wordPosition":
                    if "attribute" not in seen and "wordPosition" not in seen:
                        rules.append(("wordPosition", None))
                elif rule not in seen:
                    rules += [("exactAttribute", None), ("exactWords", None)] if rule == "exactness" else [(rule, None)]
                seen.add(rule)
            elif rule == "sort":
                if "sort" in seen:
                    continue
                seen.add("sort")
                for name, ascending in sort:
                    if name not in sorted_fields:
                        sorted_fields.add(name)
                        rules.append(("sortField", (name, ascending)))
            else:
                name, _, order = rule.rpartition(":")
                if name not in sorted_fields:
                    sorted_fields.add(name)
                    rules.append(("sortField", (name, order == "asc")))
        return rules

    def _parse_sort(self) -> list[tuple[str, bool]]:
        out = []
        for item in self.request.sort or []:
            name, _, order = item.rpartition(":")
            out.append((name, order == "asc"))
        if out and "sort" not in self.settings["rankingRules"]:
            raise ApiError(
                400,
                "invalid_search_sort",
                "You must specify where `sort` is listed in the rankingRules setting to use the sort parameter at "
                "search time.",
            )
        sortable = set(self.settings["sortableAttributes"])
        for name, _ in out:
            if name not in sortable:
                listed = ", ".join(sorted(sortable))
                hint = (
                    f"Available sortable attributes are: `{listed}`."
                    if sortable
                    else "This index does not have configured sortable attributes."
                )
                raise ApiError(
                    400, "invalid_search_sort", f"Index `{self.index.uid}`: Attribute `{name}` is not sortable. {hint}"
                )
        return out

    # -- ranking per document -------------------------------------------------------------------------------

    def _graph_ranks(
        self, query: _Query, doc: _Doc, kept: list[int], rule: str, dropped_cost: int, words_max: int
    ) -> tuple[int, int]:
        terms = query.terms
        max_weight = max(len(self.index._searchable(doc.body)) - 1, 0)
        if rule == "words":
            return (words_max - dropped_cost, words_max)
        if rule == "typo":
            split_only = 0
            for t in kept:
                if not self.index._occurrences(doc, terms[t].word, terms[t].prefix):
                    split_only += 1
            return (1 + len(kept) - split_only, 1 + len(kept))
        if rule == "proximity":
            pairs = [(a, b) for a, b in itertools.pairwise(kept) if terms[b].position == terms[a].position + 1]
            cost = 0
            for a, b in pairs:
                left = self.index._occurrences(doc, terms[a].word, terms[a].prefix)
                right = self.index._occurrences(doc, terms[b].word, terms[b].prefix)
                best = MAX_DISTANCE
                for wl, pl, _ in left:
                    for wr, pr, _ in right:
                        if wl == wr:
                            best = min(best, _proximity(pl, pr))
                cost += best - 1
            return (1 + 3 * len(pairs) - cost, 1 + 3 * len(pairs))
        if rule == "attributeRank":
            cost = 0
            for t in kept:
                weights = [w for w, _, _ in self.index._occurrences(doc, terms[t].word, terms[t].prefix)]
                cost += min(weights) if weights else max_weight
            return (1 + max_weight * len(kept) - cost, 1 + max_weight * len(kept))
        if rule == "wordPosition":
            cost = 0
            for t in kept:
                found = self.index._occurrences(doc, terms[t].word, terms[t].prefix)
                distances = [_cost_from_distance(abs(_bucketed(p) - terms[t].position)) for _, p, _ in found]
                cost += min(distances) if distances else 10
            return (1 + 10 * len(kept) - cost, 1 + 10 * len(kept))
        if rule == "exactAttribute":
            wanted = [terms[t].word for t in kept]
            best = 1
            for occurrences in doc.words.values():
                words = [w for w, _ in occurrences]
                if words == wanted:
                    best = 3
                elif words[: len(wanted)] == wanted:
                    best = max(best, 2)
            return (best, 3)
        if rule == "exactWords":
            exact = sum(1 for t in kept if any(e for _, _, e in self.index._occurrences(doc, terms[t].word, False)))
            return (exact + 1, len(kept) + 1)
        raise AssertionError(rule)

    def _keyword_hits(self, universe: list[_Doc], sort: list[tuple[str, bool]]) -> tuple[list[_Hit], set[int]]:
        """Ranked hits of the keyword search over the filtered ``universe`` and its candidate set."""
        terms = self.index._terms(self.request.q or "")
        if not terms:
            rules = self._rules(sort, placeholder=True)
            hits = [self._hit(doc, rules, [], None) for doc in universe]
            hits.sort(key=lambda h: h.key)
            return hits, {doc.docid for doc in universe}
        query = _Query(self.index, terms)
        groups = query.removal_groups(self.request.matching_strategy)
        all_terms = list(range(len(terms)))
        levels: list[list[int]] = [all_terms]
        for group in groups:
            levels.append([t for t in levels[-1] if t not in group])
        words_max = 1 + sum(len(g) for g in groups)
        rules = self._rules(sort, placeholder=False)
        hits: list[_Hit] = []
        for doc in universe:
            for level, kept in enumerate(levels):
                if query.covers(doc, kept):
                    dropped = len(terms) - len(kept)
                    hits.append(self._hit(doc, rules, kept, (query, dropped, words_max, level)))
                    break
        hits.sort(key=lambda h: h.key)
        return hits, {h.docid for h in hits}

    def _hit(
        self, doc: _Doc, rules: list[tuple[str, Any]], kept: list[int], graph: tuple[_Query, int, int, int] | None
    ) -> _Hit:
        key: list[Any] = []
        ranks: list[tuple[int, int]] = []
        values: list[tuple[str, Any]] = []
        for rule, argument in rules:
            if rule == "sortField":
                name, ascending = argument
                value = doc.body.get(name)
                key.append(_sort_key(value, ascending))
                values.append(("sort", (ascending, value)))
                continue
            assert graph is not None
            query, dropped, words_max, _ = graph
            rank = self._graph_ranks(query, doc, kept, rule, dropped, words_max)
            key.append(-rank[0] / rank[1])
            ranks.append(rank)
            values.append(("rank", rank))
        key.append(doc.docid)
        return _Hit(doc.docid, tuple(key), ranks, values)

    # -- vectors --------------------------------------------------------------------------------------------

    def _vector_hits(self, universe: list[_Doc], sort: list[tuple[str, bool]], embedder: str) -> list[_Hit]:
        target = self.request.vector or []
        norm = math.sqrt(sum(x * x for x in target))
        rules: list[tuple[str, Any]] = []
        vector_placed = False
        for rule, argument in self._rules(sort, placeholder=False):
            if rule == "sortField":
                rules.append((rule, argument))
            elif not vector_placed:
                rules.append(("vector", None))
                vector_placed = True
        hits = []
        for doc in universe:
            embedding = (
                ((doc.body.get("_vectors") or {}).get(embedder)) if isinstance(doc.body.get("_vectors"), dict) else None
            )
            similarity: float | None = None
            distance = 2.0  # vector_sort.rs buckets by distance; the shifted score may tie where distances do not
            if isinstance(embedding, list) and embedding and isinstance(embedding[0], (int, float)):
                dot = sum(a * b for a, b in zip(target, embedding, strict=False))
                other = math.sqrt(sum(x * x for x in embedding))
                cos = max(-1.0, min(1.0, dot / (norm * other))) if norm * other > 1e-7 else 1.0
                distance = (1.0 - cos) / 2.0
                similarity = _shift(1.0 - distance, self.settings["embedders"].get(embedder, {}))
            key: list[Any] = []
            values: list[tuple[str, Any]] = []
            for rule, argument in rules:
                if rule == "vector":
                    key.append((1, 0.0) if similarity is None else (0, distance))
                    values.append(("vector", similarity))
                else:
                    name, ascending = argument
                    key.append(_sort_key(doc.body.get(name), ascending))
                    values.append(("sort", (ascending, doc.body.get(name))))
            key.append(doc.docid)
            hits.append(_Hit(doc.docid, tuple(key), [], values))
        hits.sort(key=lambda h: h.key)
        return hits

    @staticmethod
    def _score(hit: _Hit) -> float:
        for kind, value in hit.values:
            if kind == "vector":
                return 0.0 if value is None else float(value)
        return _global_score(hit.ranks)

    @staticmethod
    def _score_values(hit: _Hit) -> list[tuple[str, Any]]:
        """score_details.rs ``score_values``: consecutive ranks merged into one score; sort values as they are."""
        out: list[tuple[str, Any]] = []
        pending: tuple[int, int] | None = None
        for kind, value in hit.values:
            if kind == "rank":
                pending = value if pending is None else _merge(pending, value)
                continue
            if pending is not None:
                out.append(("score", pending[0] / pending[1]))
                pending = None
            out.append(("score", 0.0 if value is None else float(value)) if kind == "vector" else ("sort", value))
        if pending is not None:
            out.append(("score", pending[0] / pending[1]))
        return out

    @classmethod
    def _compare(cls, left: _Hit, left_ratio: float, right: _Hit, right_ratio: float) -> int:
        """hybrid.rs ``compare_scores``: > 0 when ``left`` ranks first."""
        lv, rv = cls._score_values(left), cls._score_values(right)
        for index in range(max(len(lv), len(rv))):
            if index >= len(lv):
                return 0 if index >= len(rv) else -1
            if index >= len(rv):
                return 1
            (lk, la), (rk, ra) = lv[index], rv[index]
            if lk == "score" and rk == "score":
                a, b = la * left_ratio, ra * right_ratio
                if abs(a - b) <= 2.220446049250313e-16:
                    continue
                return 1 if a > b else -1
            if lk == "sort" and rk == "sort":
                (ascending, a), (_, b) = la, ra
                ka, kb = _sort_key(a, ascending), _sort_key(b, ascending)
                if ka == kb:
                    continue
                return 1 if ka < kb else -1
            if lk == "score":
                return -1 if la == 0 else 1
            return 1 if ra == 0 else -1
        return 0

    # -- the search -----------------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        request, settings = self.request, self.settings
        sort = self._parse_sort()
        node = self.index.parse_filter(request.filter, "invalid_search_filter", in_search=True)
        universe = [doc for doc in self.index.ordered() if filters.evaluate(node, doc.body)]
        max_total = settings["pagination"]["maxTotalHits"]
        finite = request.page is not None or request.hits_per_page is not None
        if finite:
            per_page = request.hits_per_page if request.hits_per_page is not None else 20
            page = request.page if request.page is not None else 1
            offset, limit = (max(page - 1, 0) * per_page, per_page) if page else (0, 0)
        else:
            offset, limit = request.offset, request.limit
        offset = min(offset, max_total)
        limit = min(limit, max_total - offset)
        semantic_hit_count: int | None = None
        scored: list[tuple[_Hit, float]]
        if request.hybrid is not None:
            ratio = float(request.hybrid.get("semanticRatio", 0.5))
            keyword, candidates = self._keyword_hits(universe, sort)
            keyword = keyword[: offset + limit]
            good_enough = len(keyword) >= offset + limit and all(
                self._score(h) * (1.0 - ratio) >= GOOD_ENOUGH_SCORE for h in keyword
            )
            if good_enough or not request.vector:
                page_hits = keyword[offset : offset + limit]
                semantic_hit_count = 0
            else:
                vector = self._vector_hits(universe, sort, request.hybrid["embedder"])[: offset + limit]
                merged: list[tuple[_Hit, bool]] = []
                i = j = 0
                while i < len(vector) or j < len(keyword):
                    if j >= len(keyword) or (
                        i < len(vector) and self._compare(vector[i], ratio, keyword[j], 1.0 - ratio) >= 0
                    ):
                        merged.append((vector[i], True))
                        i += 1
                    else:
                        merged.append((keyword[j], False))
                        j += 1
                seen: set[int] = set()
                unique = []
                for hit, semantic in merged:
                    if hit.docid not in seen:
                        seen.add(hit.docid)
                        unique.append((hit, semantic))
                chosen = unique[offset : offset + limit]
                semantic_hit_count = sum(1 for _, semantic in chosen if semantic)
                page_hits = [hit for hit, _ in chosen]
                candidates = candidates | {doc.docid for doc in universe}
            scored = [(hit, self._score(hit)) for hit in page_hits]
        else:
            hits, candidates = self._keyword_hits(universe, sort)
            scored = [(hit, self._score(hit)) for hit in hits[offset : offset + limit]]
        total = min(len(candidates), max_total)
        answer: dict[str, Any] = {
            "hits": [self._document(hit.docid, score) for hit, score in scored],
            "query": request.q or "",
            "processingTimeMs": 0,
        }
        if finite:
            per_page = request.hits_per_page if request.hits_per_page is not None else 20
            answer.update(
                hitsPerPage=per_page,
                page=request.page if request.page is not None else 1,
                totalPages=(total + per_page - 1) // per_page if per_page else 0,
                totalHits=total,
            )
        else:
            answer.update(limit=limit, offset=offset, estimatedTotalHits=total)
        if request.facets is not None:
            distribution, stats = self._facets(request.facets, candidates)
            answer["facetDistribution"] = distribution
            if stats:
                answer["facetStats"] = stats
        if semantic_hit_count is not None:
            answer["semanticHitCount"] = semantic_hit_count
        return answer

    def _document(self, docid: int, score: float) -> dict[str, Any]:
        body = self.index.docs[docid].body
        displayed = self.settings["displayedAttributes"]
        wanted = self.request.attributes_to_retrieve
        out: dict[str, Any] = {}
        for key, value in body.items():
            if key == "_vectors":
                continue
            if displayed != ["*"] and key not in displayed:
                continue
            if wanted is not None and "*" not in wanted and key not in wanted:
                continue
            out[key] = value
        if self.request.show_ranking_score:
            out["_rankingScore"] = score
        return out

    def _facets(
        self, names: list[str], candidates: set[int]
    ) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, float]]]:
        for name in names:
            if not self.index.is_filterable(name) and name != "*":
                patterns = self.index.filterable_names()
                hint = (
                    f"Available filterable attributes patterns are: `{', '.join(sorted(patterns))}`."
                    if patterns
                    else "This index does not have configured filterable attributes."
                )
                raise ApiError(
                    400,
                    "invalid_search_facets",
                    f"Invalid facet distribution: Pattern `{name}` is not filterable. {hint}",
                )
        limit = self.settings["faceting"]["maxValuesPerFacet"]
        orders = self.settings["faceting"].get("sortFacetValuesBy") or {"*": "alpha"}
        distribution: dict[str, dict[str, int]] = {}
        stats: dict[str, dict[str, float]] = {}
        for name in names:
            numbers: dict[float, int] = {}
            strings: dict[str, tuple[str, int, int]] = {}  # normalized → (original of min docid, count, min docid)
            for docid in sorted(candidates):
                values = filters._values(self.index.docs[docid].body, name) or []
                seen_numbers: set[float] = set()
                seen_strings: set[str] = set()
                for value in values:
                    if isinstance(value, bool):
                        value = "true" if value else "false"
                    if isinstance(value, (int, float)):
                        number = float(value)
                        if number not in seen_numbers:
                            seen_numbers.add(number)
                            numbers[number] = numbers.get(number, 0) + 1
                    elif isinstance(value, str):
                        normalized = value.lower()
                        if normalized not in seen_strings:
                            seen_strings.add(normalized)
                            original, count, first = strings.get(normalized, (value, 0, docid))
                            strings[normalized] = (original, count + 1, first)
            order = orders.get(name, orders.get("*", "alpha"))
            if order == "count":
                ranked_numbers = sorted(numbers.items(), key=lambda item: (-item[1], -item[0]))
                ranked_strings = sorted(
                    strings.items(), key=lambda item: (-item[1][1], tuple(-b for b in item[0].encode()))
                )
            else:
                ranked_numbers = sorted(numbers.items())
                ranked_strings = sorted(strings.items(), key=lambda item: item[0].encode())
            values_out: dict[str, int] = {}
            for number, count in ranked_numbers:
                if len(values_out) == limit:
                    break
                values_out[_facet_number(number)] = count
            for _, (original, count, _) in ranked_strings:
                if len(values_out) == limit:
                    break
                values_out[original] = count
            distribution[name] = values_out
            if numbers:
                stats[name] = {"min": min(numbers), "max": max(numbers)}
        return distribution, stats
