"""The embedded engine: SQLite FTS5 with jieba tokens, BM25 ranking, filters, facet counts and snippets.

Files (under SEARCH_INDEX_DIR, default {DATA_DIR}/search-index), one index per kind::

    achievement.current            the name of the live generation file (replaced atomically by os.replace)
    achievement-<generation>.sqlite
    demand.current, demand-<generation>.sqlite

Everything here can be rebuilt (``techmarket search reindex``). A rebuild writes a new generation file and then
replaces the pointer; every operation first checks the pointer (one ``stat``), so a server process switches to
the new generation on its next request, even when another process (the CLI) built it.

SQLite calls block, so they run in worker threads: one writer connection behind a lock, a pool of readers (WAL
lets readers proceed while the writer writes).

FTS5 finds and ranks; filters, exact totals, facet counts and the date/price order run with numpy on a
per-process columnar copy of the docs table (:class:`_Columns`), which follows every write, this process's or
another's, through a generation counter and a change log kept in the file itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import queue
import sqlite3
import threading
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from services.search.engines import ranking
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
    Sort,
    region_filter,
)
from services.search.segment import QueryTerm, Segmenter, snippet

__all__ = ["DocumentMatcher", "EmbeddedEngine"]

# Column weights of BM25: a word in the title counts most, then keywords (keywords, field, IPC, owner), then body.
BM25_WEIGHTS = (10.0, 4.0, 1.0)
MAX_FACET_VALUES = 100
# Bounds of the per-file cache of FTS5 answers (_Walks): rowids held (8 bytes each), BM25 lists kept.
WALK_CACHE_ROWIDS = 4_000_000
WALK_CACHE_EXPRESSIONS = 64
# The most documents of one bucket BM25 scores in a query: a larger bucket is cut down first (_preselected).
RANK_ALL_LIMIT = 2000
# How many write transactions the change log covers; a process whose columnar copy is older reloads it whole.
CHANGE_LOG_GENERATIONS = 100

# The full-text table (also built, alone, for one document by DocumentMatcher: the same tokenizer, the same matches).
FTS_TABLE = "CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(title, keywords, body, tokenize = 'unicode61 remove_diacritics 0')"

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS docs (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    version INTEGER NOT NULL,
    technical_field TEXT,
    region_code TEXT,
    region_city TEXT,
    region_province TEXT,
    trl INTEGER,
    ip_type TEXT,
    amount_min_fen INTEGER,
    amount_max_fen INTEGER,
    owner_org_id TEXT,
    published_ts REAL,
    modes TEXT NOT NULL DEFAULT ''
);
-- The wide part of a document lives apart, so that docs stays narrow (dozens of rows per page) for the joins
-- of filters and facets; only the page of hits reads it.
CREATE TABLE IF NOT EXISTS payload (
    rowid INTEGER PRIMARY KEY,
    card TEXT NOT NULL,
    snippet_source TEXT NOT NULL
);
-- Filters, facets and sorting read a per-process columnar copy of docs (see _Columns), not SQL indexes. Every
-- write transaction bumps meta.generation and logs the docs rowids it touched in changes, so that a process
-- (this one or another writing the same file) brings its copy up to date by re-reading only those rows.
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (key, value) VALUES ('generation', 0), ('pruned_through', 0);
CREATE TABLE IF NOT EXISTS changes (
    generation INTEGER NOT NULL,
    docid INTEGER NOT NULL,
    PRIMARY KEY (generation, docid)
) WITHOUT ROWID;
-- Embeddings (float32, little endian) of the documents that have one, for semantic and hybrid search.
CREATE TABLE IF NOT EXISTS vectors (
    rowid INTEGER PRIMARY KEY,
    vector BLOB NOT NULL
);
{FTS_TABLE};
"""  # noqa: S608 (constants only)


def _quote(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA busy_timeout=30000")
    connection.execute("PRAGMA cache_size=-32768")  # 32 MiB of page cache per connection
    connection.execute("PRAGMA mmap_size=268435456")
    return connection


class _IndexFile:
    """One generation file: its writer connection and a pool of reader connections."""

    def __init__(self, path: Path, segmenter: Segmenter) -> None:
        self.path = path
        self.segmenter = segmenter
        self._writer = _connect(path)
        self._writer.executescript(SCHEMA)
        self._write_lock = threading.Lock()
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._closed = False
        self._columns_lock = threading.Lock()
        self._columns_cache = _Columns.empty()
        self._vectors = _Vectors()
        self._walks = _Walks()

    @contextlib.contextmanager
    def reader(self) -> Iterator[sqlite3.Connection]:
        try:
            connection = self._readers.get_nowait()
        except queue.Empty:
            connection = _connect(self.path)
        try:
            yield connection
        finally:
            if self._closed:
                connection.close()
            else:
                self._readers.put(connection)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A reader inside a read transaction: every statement sees the same state of the file."""
        with self.reader() as db:
            db.execute("BEGIN")
            try:
                yield db
            finally:
                db.execute("COMMIT")

    def close(self) -> None:
        self._closed = True
        with self._write_lock:
            self._writer.close()
        while True:
            try:
                self._readers.get_nowait().close()
            except queue.Empty:
                break

    # -- writes ---------------------------------------------------------------------------------------------

    def apply(self, upserts: Sequence[IndexDocument], deletes: Sequence[tuple[str, int]]) -> None:
        # Segment outside the lock: it is the slow part, and needs no database.
        prepared = [
            (
                doc,
                self.segmenter.index_text(doc.title),
                self.segmenter.index_text(doc.keywords),
                self.segmenter.index_text(doc.body),
            )
            for doc in upserts
        ]
        with self._write_lock:
            db = self._writer
            db.execute("BEGIN IMMEDIATE")
            try:
                touched: set[int] = set()
                for doc, title, keywords, body in prepared:
                    self._upsert(db, doc, title, keywords, body, touched)
                for doc_id, version in deletes:
                    row = db.execute("SELECT rowid, version FROM docs WHERE id = ?", (doc_id,)).fetchone()
                    if row is not None and row[1] <= version:
                        self._remove(db, row[0], touched)
                if touched:
                    self._log_changes(db, touched)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    @staticmethod
    def _log_changes(db: sqlite3.Connection, touched: set[int]) -> None:
        """A new generation with the rowids it touched; the log keeps the last CHANGE_LOG_GENERATIONS only."""
        (generation,) = db.execute(
            "UPDATE meta SET value = value + 1 WHERE key = 'generation' RETURNING value"
        ).fetchone()
        db.executemany("INSERT INTO changes (generation, docid) VALUES (?, ?)", [(generation, r) for r in touched])
        pruned = generation - CHANGE_LOG_GENERATIONS
        if pruned > 0:
            db.execute("DELETE FROM changes WHERE generation <= ?", (pruned,))
            db.execute("UPDATE meta SET value = ? WHERE key = 'pruned_through'", (pruned,))

    @staticmethod
    def _remove(db: sqlite3.Connection, rowid: int, touched: set[int]) -> None:
        db.execute("DELETE FROM fts WHERE rowid = ?", (rowid,))
        db.execute("DELETE FROM docs WHERE rowid = ?", (rowid,))
        db.execute("DELETE FROM payload WHERE rowid = ?", (rowid,))
        db.execute("DELETE FROM vectors WHERE rowid = ?", (rowid,))
        touched.add(rowid)

    def _upsert(
        self, db: sqlite3.Connection, doc: IndexDocument, title: str, keywords: str, body: str, touched: set[int]
    ) -> None:
        row = db.execute("SELECT rowid, version FROM docs WHERE id = ?", (doc.id,)).fetchone()
        if row is not None:
            if row[1] > doc.version:
                return  # an older version never overwrites a newer one
            self._remove(db, row[0], touched)
        values = (
            doc.id,
            doc.version,
            doc.technical_field,
            doc.region_code,
            doc.region_city,
            doc.region_province,
            doc.trl,
            doc.ip_type,
            doc.amount_min_fen,
            doc.amount_max_fen,
            doc.owner_org_id,
            doc.published_ts,
            " ".join(sorted(set(doc.modes))),
        )
        cursor = db.execute(
            "INSERT INTO docs (id, version, technical_field, region_code, region_city, region_province, trl, "
            "ip_type, amount_min_fen, amount_max_fen, owner_org_id, published_ts, modes) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            values,
        )
        rowid = cursor.lastrowid
        assert rowid is not None
        db.execute(
            "INSERT INTO payload (rowid, card, snippet_source) VALUES (?, ?, ?)",
            (rowid, json.dumps(doc.card, ensure_ascii=False, separators=(",", ":")), doc.snippet_source),
        )
        db.execute("INSERT INTO fts (rowid, title, keywords, body) VALUES (?, ?, ?, ?)", (rowid, title, keywords, body))
        if doc.vector is not None:
            vector = np.asarray(doc.vector, dtype="<f4")
            norm = float(np.linalg.norm(vector))
            # Unit length, so that a dot product is the cosine similarity.
            db.execute("INSERT INTO vectors (rowid, vector) VALUES (?, ?)", (rowid, (vector / (norm or 1.0)).tobytes()))
        touched.add(rowid)

    def finish(self) -> None:
        """Empty the change log (no process has a copy of a new generation yet) and fold the WAL into the file."""
        with self._write_lock:
            db = self._writer
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM changes")
            db.execute(
                "UPDATE meta SET value = (SELECT value FROM meta WHERE key = 'generation') WHERE key = 'pruned_through'"
            )
            db.execute("COMMIT")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- reads ----------------------------------------------------------------------------------------------

    def versions(self) -> dict[str, int]:
        with self.reader() as db:
            return {row[0]: int(row[1]) for row in db.execute("SELECT id, version FROM docs")}

    def _columns(self, db: sqlite3.Connection) -> _Columns:
        """The columnar copy at the generation ``db``'s read transaction sees, brought up to date if needed."""
        generation, pruned_through = db.execute(
            "SELECT (SELECT value FROM meta WHERE key = 'generation'), "
            "(SELECT value FROM meta WHERE key = 'pruned_through')"
        ).fetchone()
        with self._columns_lock:
            cached = self._columns_cache
        if cached.generation == generation:
            return cached
        if pruned_through <= cached.generation < generation:
            changed = [
                row[0] for row in db.execute("SELECT docid FROM changes WHERE generation > ?", (cached.generation,))
            ]
            rows = db.execute(
                f"{_LOAD} WHERE d.rowid IN (SELECT value FROM json_each(?))",  # noqa: S608
                (json.dumps(changed),),
            ).fetchall()
            fresh = cached.updated(generation, rows, changed)
            full = False
        else:
            # First use, a change log that no longer reaches back to our copy, or (rarely) a read transaction
            # older than the copy another thread just made: read every row.
            rows = db.execute(_LOAD).fetchall()
            fresh = _Columns.empty().updated(generation, rows, ())
            changed, full = [], True
        with self._columns_lock:
            if fresh.generation > self._columns_cache.generation:
                self._columns_cache = fresh
                self._vectors.apply(rows, changed, full=full)
        return fresh

    def load_columns(self) -> None:
        """Make the columnar copy now (about half a second at 100,000 documents) rather than in a search."""
        with self.snapshot() as db:
            self._columns(db)

    def search(
        self,
        query: SearchQuery,
        terms: Sequence[QueryTerm],
        highlight: Sequence[str],
        distribution: ranking.Distribution | None = None,
    ) -> SearchResult:
        with self.snapshot() as db:  # one state for the columnar copy, the match, the page and its payloads
            page, total, facets = self._run(db, query, terms, distribution)
            payloads = {
                rowid: (doc_id, card, text)
                for rowid, doc_id, card, text in db.execute(
                    "SELECT d.rowid, d.id, p.card, p.snippet_source FROM docs d JOIN payload p ON p.rowid = d.rowid "
                    "WHERE d.rowid IN (SELECT value FROM json_each(?))",
                    (json.dumps([hit.rowid for hit in page]),),
                )
            }
        hits = []
        for hit in page:
            doc_id, card, source_text = payloads[hit.rowid]
            hits.append(
                SearchHit(
                    id=doc_id,
                    score=hit.score,
                    card=json.loads(card),
                    snippet=snippet(source_text, highlight),
                    matched_terms=hit.matched,
                )
            )
        return SearchResult(hits=hits, total=total, total_is_exact=True, facets=facets)

    def _run(
        self,
        db: sqlite3.Connection,
        query: SearchQuery,
        terms: Sequence[QueryTerm],
        distribution: ranking.Distribution | None,
    ) -> tuple[list[_PageHit], int, dict[str, dict[str, int]]]:
        """The page (rowid and score, None without words), the exact total and the facet counts."""
        want = query.offset + query.limit
        columns = self._columns(db)
        excluded = self._excluded_rowids(db, query)
        mapping = FACET_FIELDS[query.kind]
        if not terms:
            # Browsing: every document passing the filters, by date or price (numpy on the columnar copy).
            selected = columns.select(query, None, excluded)
            facets = {name: columns.facet(mapping[name], selected) for name in query.facets}
            ordered = columns.ordered(query.sort, selected, want)[query.offset :]
            return [_PageHit(rowid, None) for rowid in ordered], len(selected), facets
        # Each word's matching rowids (FTS5 doclist walks, no ranking), then the word rank of every match under
        # the matching strategy; filters and exclusions from the columnar copy.
        walks = self._walks.at(columns.generation)
        matches = [walks.rowids(db, _term_match(term)) for term in terms]
        universe, ranks, groups = ranking.word_ranks(matches, query.matching)
        keep = columns.passes(query, universe, excluded)
        universe, ranks = universe[keep], ranks[keep]
        scorer = _KeywordScorer(
            db, walks, terms, groups, universe, ranks, matches, int(np.count_nonzero(columns.present))
        )
        page, counted = self._ranked_page(query, scorer, columns, universe, excluded, distribution)
        facets = {name: columns.facet(mapping[name], counted) for name in query.facets}
        held = scorer.matched([hit.rowid for hit in page], terms)
        return [dataclasses.replace(hit, matched=held[hit.rowid]) for hit in page], len(counted), facets

    def _ranked_page(
        self,
        query: SearchQuery,
        scorer: _KeywordScorer,
        columns: _Columns,
        universe: npt.NDArray[np.int64],
        excluded: npt.NDArray[np.int64],
        distribution: ranking.Distribution | None,
    ) -> tuple[list[_PageHit], npt.NDArray[np.int64]]:
        """The page of a query with words, and the documents its total and facets count."""
        want = query.offset + query.limit
        semantic = query.vector is not None and query.semantic_ratio > 0 and query.sort == "relevance"
        if not semantic:
            if query.sort == "relevance":
                return [_PageHit(r, score) for r, score in scorer.best(want)[query.offset :]], universe
            ordered = columns.ordered(query.sort, universe, want)[query.offset :]
            scores = scorer.scores(ordered)
            return [_PageHit(rowid, scores.get(rowid)) for rowid in ordered], universe
        assert query.vector is not None
        ratio = query.semantic_ratio
        keyword = scorer.best(want)
        if ratio < 1.0 and ranking.keyword_results_good_enough(keyword, want, ratio):
            return [_PageHit(r, score) for r, score in keyword[query.offset :]], universe
        # Semantic candidates: the best `want` by similarity among the documents passing the filters that have a
        # vector. Meilisearch's semantic side counts every document passing the filters, with a vector or not
        # (and every keyword match passes them too).
        filtered = columns.select(query, None, excluded)
        candidates, cosines = self._vectors.cosines(filtered, query.vector)
        similarities = ranking.similarity(cosines, distribution)
        best = np.argsort(-similarities, kind="stable")[:want]
        semantic_hits = [(int(candidates[i]), float(similarities[i])) for i in best]
        page = ranking.merge_hybrid(keyword, semantic_hits, ratio, query.offset, query.limit)
        return [_PageHit(r, score) for r, score in page], filtered

    def _excluded_rowids(self, db: sqlite3.Connection, query: SearchQuery) -> npt.NDArray[np.int64]:
        """The rowids of the documents a query leaves out by id."""
        if not query.exclude_ids:
            return np.zeros(0, dtype=np.int64)
        rows = db.execute(
            "SELECT rowid FROM docs WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(query.exclude_ids),)
        ).fetchall()
        return np.array([row[0] for row in rows], dtype=np.int64)


@dataclass(frozen=True, slots=True)
class _PageHit:
    rowid: int
    score: float | None
    matched: tuple[str, ...] = ()


def _term_match(term: QueryTerm) -> str:
    """The FTS5 expression of one query word: the word, all of a long word's bigrams, or (last word) a prefix."""
    options = [_quote(term.word)]
    if term.bigrams:
        options.append("(" + " AND ".join(_quote(g) for g in term.bigrams) + ")")
    if term.prefix:
        options.append(_quote(term.word) + " *")
    return options[0] if len(options) == 1 else "(" + " OR ".join(options) + ")"


def _matching_rowids(db: sqlite3.Connection, match: str) -> npt.NDArray[np.int64]:
    """The sorted rowids matching an FTS5 expression (FTS5 yields them in rowid order)."""
    # One string parsed in C: for tens of thousands of matches several times faster than fetching rows.
    listed = db.execute("SELECT group_concat(rowid) FROM fts WHERE fts MATCH ?", (match,)).fetchone()[0]
    return np.fromstring(listed or "", dtype=np.int64, sep=",")


class _Walks:
    """What FTS5 answered for one index file, kept while its generation stays: each expression's matching rowids
    and BM25 values. A word's doclist walk and BM25 are most of a query's cost; common words recur across
    queries, and a similar-text search asks three times about the same words (in another order)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current = _GenerationWalks(-1)

    def at(self, generation: int) -> _GenerationWalks:
        """The cache of ``generation`` (a new, empty one when the file has moved on; an older one is not kept)."""
        with self._lock:
            if self._current.generation == generation:
                return self._current
            fresh = _GenerationWalks(generation)
            if generation > self._current.generation:
                self._current = fresh  # a reader of an older snapshot gets a cache of its own, not kept
            return fresh


class _GenerationWalks:
    """The walks of one generation (bounded: WALK_CACHE_ROWIDS rowids and WALK_CACHE_EXPRESSIONS BM25 lists)."""

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self._lock = threading.Lock()
        self._rowids: OrderedDict[str, npt.NDArray[np.int64]] = OrderedDict()
        self._held = 0
        self._bm25: OrderedDict[str, dict[int, float]] = OrderedDict()

    def rowids(self, db: sqlite3.Connection, match: str) -> npt.NDArray[np.int64]:
        """The sorted rowids matching an FTS5 expression."""
        with self._lock:
            found = self._rowids.get(match)
            if found is not None:
                self._rowids.move_to_end(match)
                return found
        found = _matching_rowids(db, match)
        with self._lock:
            if match not in self._rowids:
                self._rowids[match] = found
                self._held += len(found)
                while self._held > WALK_CACHE_ROWIDS and len(self._rowids) > 1:
                    _, dropped = self._rowids.popitem(last=False)
                    self._held -= len(dropped)
        return found

    def bm25(self, db: sqlite3.Connection, match: str, rowids: list[int]) -> dict[int, float]:
        """BM25 (raw, negative) of ``rowids`` for an FTS5 expression; only the ones not known yet are computed."""
        with self._lock:
            known = self._bm25.setdefault(match, {})
            self._bm25.move_to_end(match)
            while len(self._bm25) > WALK_CACHE_EXPRESSIONS:
                self._bm25.popitem(last=False)
            missing = [rowid for rowid in rowids if rowid not in known]
        if missing:
            computed = _scores(db, match, missing)
            with self._lock:
                known.update(computed)
        return {rowid: known[rowid] for rowid in rowids if rowid in known}


class _KeywordScorer:
    """Ranks matches by word rank, then BM25, computing BM25 only for the buckets a page needs."""

    def __init__(
        self,
        db: sqlite3.Connection,
        walks: _GenerationWalks,
        terms: Sequence[QueryTerm],
        groups: int,
        universe: npt.NDArray[np.int64],
        ranks: npt.NDArray[np.int8],
        matches: Sequence[npt.NDArray[np.int64]],
        documents: int,
    ) -> None:
        self._db = db
        self._walks = walks
        self._groups = groups
        self._matches = matches
        # Inverse document frequency of each word, for the preselection of large buckets.
        self._idf = [float(np.log1p(max(documents, 1) / max(len(m), 1))) for m in matches]
        self._titled: npt.NDArray[np.int64] | None = None
        # BM25 over any of the words: a document scores for every query word it holds.
        # In a fixed order, so that the same words in another order (the pivots of a similar-text search) share
        # the cached BM25 values.
        self._any = " OR ".join(sorted(_term_match(term) for term in terms))
        self._universe = universe
        self._ranks = ranks

    def best(self, want: int) -> list[tuple[int, float]]:
        """The best ``want`` matches (rowid, 0..1 score), best first.

        The buckets a page needs are taken from the top (a large last one preselected), then BM25 is computed
        for all of their documents in ONE FTS5 query: each query walks the doclists of every word again, so one
        query per bucket cost up to ten walks.
        """
        chosen: list[tuple[int, npt.NDArray[np.int64]]] = []
        need = want
        for rank in range(self._groups, 0, -1):
            if need <= 0:
                break
            bucket = self._universe[self._ranks == rank]
            if len(bucket):
                bucket = self._preselected(bucket, need)
                chosen.append((rank, bucket))
                need -= len(bucket)
        if not chosen:
            return []
        raw = self._walks.bm25(self._db, self._any, np.concatenate([bucket for _, bucket in chosen]).tolist())
        out: list[tuple[int, float]] = []
        for rank, bucket in chosen:
            # Best BM25 first (FTS5's bm25 is negative: smaller is better); ties: the later document first.
            ordered = sorted(bucket.tolist(), key=lambda rowid: (raw.get(rowid, 0.0), -rowid))
            for rowid in ordered[: want - len(out)]:
                out.append((rowid, ranking.keyword_score(rank, self._groups, -raw.get(rowid, 0.0))))
        return out

    def _preselected(self, bucket: npt.NDArray[np.int64], need: int) -> npt.NDArray[np.int64]:
        """A bucket of more than RANK_ALL_LIMIT documents cut down before BM25 scores it.

        BM25 reads the position lists of every document it scores: most of a query's cost when a bucket holds
        tens of thousands of documents. First, when the documents holding a word in their title or keywords fill
        the page, only they stay (with our column weights BM25 puts them first in all but contrived cases); then,
        if still too many, those holding the most other query words (idf-weighted) — what BM25 mostly rewards
        among documents that share their leading words. The approximations of ranking, documented in
        docs/search.md.
        """
        limit = max(RANK_ALL_LIMIT, need)
        if len(bucket) <= limit:
            return bucket
        titled = np.intersect1d(bucket, self._in_titles(), assume_unique=True)
        if len(titled) >= need:
            bucket = titled
        if len(bucket) <= limit:
            return bucket
        weight = np.zeros(len(bucket), dtype=np.float64)
        for idf, matched in zip(self._idf, self._matches, strict=True):
            weight += idf * ranking.contains(matched, bucket)
        best = np.argpartition(-weight, limit - 1)[:limit]
        return np.sort(bucket[best])

    def _in_titles(self) -> npt.NDArray[np.int64]:
        """The documents holding a query word in their title or keywords (one doclist walk, made once)."""
        if self._titled is None:
            self._titled = self._walks.rowids(self._db, f"{{title keywords}} : ({self._any})")
        return self._titled

    def matched(self, rowids: Sequence[int], terms: Sequence[QueryTerm]) -> dict[int, tuple[str, ...]]:
        """The query words each of ``rowids`` holds (from the words' matching rowids, no text read)."""
        page = np.asarray(rowids, dtype=np.int64)
        holds = [ranking.contains(matched, page) for matched in self._matches]
        return {
            int(rowid): tuple(term.word for term, held in zip(terms, holds, strict=True) if held[i])
            for i, rowid in enumerate(page)
        }

    def scores(self, rowids: list[int]) -> dict[int, float]:
        """The 0..1 scores of some matches (a page ordered otherwise)."""
        if not rowids:
            return {}
        rank_of = dict(zip(self._universe.tolist(), self._ranks.tolist(), strict=True))
        raw = self._walks.bm25(self._db, self._any, rowids)
        return {r: ranking.keyword_score(rank_of[r], self._groups, -raw.get(r, 0.0)) for r in rowids}


def _restricted(rowids: npt.NDArray[np.int64] | None) -> tuple[str, list[Any]]:
    """An SQL condition keeping FTS5 rows whose rowid is in ``rowids`` (none when None), with its parameter."""
    if rowids is None:
        return "", []
    # "+rowid" is an expression, not a constraint FTS5 is offered: FTS5 would run the whole match again for
    # every rowid of the list (measured 30 to 150 times slower at 100,000 documents); as an expression it is
    # checked once per match instead.
    return " AND +rowid IN (SELECT value FROM json_each(?))", [json.dumps(rowids.tolist())]


def _scores(db: sqlite3.Connection, match: str, rowids: list[int]) -> dict[int, float]:
    """BM25 of a page of matches ordered otherwise (by date or price): computed for those rows only."""
    restriction, extra = _restricted(np.asarray(rowids, dtype=np.int64))
    score = "bm25(fts, {}, {}, {})".format(*BM25_WEIGHTS)
    return {
        int(rowid): float(raw)
        for rowid, raw in db.execute(
            f"SELECT rowid, {score} FROM fts WHERE fts MATCH ?{restriction}",  # noqa: S608
            [match, *extra],
        )
    }


def _has_filters(query: SearchQuery) -> bool:
    return any(value is not None for _, value in _equalities(query)) or any(
        value is not None
        for value in (query.trl_min, query.trl_max, query.amount_min_fen, query.amount_max_fen, query.mode)
    )


def _equalities(query: SearchQuery) -> list[tuple[str, Any]]:
    """(docs column, value or None) of the query's equality filters."""
    region: tuple[str, Any] = ("region_code", None) if query.region is None else region_filter(query.region)
    return [
        ("technical_field", query.technical_field),
        region,
        ("ip_type", query.ip_type),
        ("owner_org_id", query.owner_org_id),
    ]


# The docs columns copied per process: coded ones (a small integer per distinct value, -1 for NULL) serve
# equality filters and facets; numeric ones (float64, NaN for NULL, so that no comparison keeps a NULL) serve
# range filters and sorting; the multi-valued modes become one boolean column per mode.
_CODED = ("technical_field", "region_code", "region_city", "region_province", "trl", "ip_type", "owner_org_id")
_NUMERIC = ("trl", "amount_min_fen", "amount_max_fen", "published_ts")
_COPIED = tuple(dict.fromkeys((*_CODED, *_NUMERIC)))
_LOAD = (
    f"SELECT d.rowid, {', '.join('d.' + c for c in _COPIED)}, d.modes, v.vector "  # noqa: S608
    "FROM docs d LEFT JOIN vectors v ON v.rowid = d.rowid"
)


@dataclass(frozen=True, slots=True)
class _Columns:
    """A columnar copy of docs at one generation, indexed by rowid; never changed once made (threads share it)."""

    generation: int
    present: npt.NDArray[np.bool_]
    codes: dict[str, npt.NDArray[np.int32]]
    values: dict[str, list[Any]]  # the value of each code, per coded column
    numbers: dict[str, npt.NDArray[np.float64]]
    modes: dict[str, npt.NDArray[np.bool_]]

    @classmethod
    def empty(cls) -> _Columns:
        return cls(
            generation=-1,
            present=np.zeros(0, dtype=np.bool_),
            codes={column: np.zeros(0, dtype=np.int32) for column in _CODED},
            values={column: [] for column in _CODED},
            numbers={column: np.zeros(0, dtype=np.float64) for column in _NUMERIC},
            modes={},
        )

    def updated(self, generation: int, rows: Sequence[tuple[Any, ...]], changed: Sequence[int]) -> _Columns:
        """A copy at ``generation``: every ``changed`` rowid cleared, then ``rows`` (rows of _LOAD) set."""
        rowids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
        cleared = np.asarray(changed, dtype=np.int64)
        size = max(len(self.present), int(rowids.max(initial=-1)) + 1, int(cleared.max(initial=-1)) + 1)

        def grown(array: npt.NDArray[Any], fill: Any) -> npt.NDArray[Any]:
            out = np.full(size, fill, dtype=array.dtype)
            out[: len(array)] = array
            out[cleared] = fill
            return out

        by_column = (
            dict(zip(("rowid", *_COPIED, "modes", "vector"), zip(*rows, strict=True), strict=True)) if rows else {}
        )
        present = grown(self.present, False)
        present[rowids] = True
        codes: dict[str, npt.NDArray[np.int32]] = {}
        values: dict[str, list[Any]] = {}
        for column in _CODED:
            index = {value: code for code, value in enumerate(self.values[column])}
            codes[column] = grown(self.codes[column], -1)
            if rows:
                for value in dict.fromkeys(by_column[column]):  # the distinct values, in order
                    if value is not None and value not in index:
                        index[value] = len(index)
                codes[column][rowids] = list(map({**index, None: -1}.__getitem__, by_column[column]))
            values[column] = list(index)  # insertion order: the value of each code
        numbers: dict[str, npt.NDArray[np.float64]] = {}
        for column in _NUMERIC:
            numbers[column] = grown(self.numbers[column], np.nan)
            if rows:
                numbers[column][rowids] = np.array(by_column[column], dtype=np.float64)  # None becomes NaN
        modes = {mode: grown(member, False) for mode, member in self.modes.items()}
        with_modes: defaultdict[str, list[int]] = defaultdict(list)  # rows grouped by their (few) mode sets
        for rowid, text in zip(rowids.tolist(), by_column.get("modes", ()), strict=True):
            with_modes[text].append(rowid)
        for text, members in with_modes.items():
            for mode in text.split():
                if mode not in modes:
                    modes[mode] = np.zeros(size, dtype=np.bool_)
                modes[mode][members] = True
        return _Columns(generation, present, codes, values, numbers, modes)

    def select(
        self, query: SearchQuery, rowids: npt.NDArray[np.int64] | None, excluded: npt.NDArray[np.int64] | None = None
    ) -> npt.NDArray[np.int64]:
        """The rowids of ``rowids`` (every document when None) that pass the query's filters and are not
        ``excluded``, in the same order."""
        candidates = np.flatnonzero(self.present) if rowids is None else rowids
        return candidates[self.passes(query, candidates, excluded)]

    def passes(
        self, query: SearchQuery, candidates: npt.NDArray[np.int64], excluded: npt.NDArray[np.int64] | None = None
    ) -> npt.NDArray[np.bool_]:
        """Which of ``candidates`` pass the query's filters and exclusions."""
        keep = np.ones(len(candidates), dtype=np.bool_)
        if excluded is not None and len(excluded):
            keep &= ~np.isin(candidates, excluded)
        if query.exclude_owner_org_id is not None:
            values = self.values["owner_org_id"]
            if query.exclude_owner_org_id in values:
                keep &= self.codes["owner_org_id"][candidates] != values.index(query.exclude_owner_org_id)
        if not _has_filters(query):
            return keep
        for column, value in _equalities(query):
            if value is not None:
                values = self.values[column]
                code = values.index(value) if value in values else -2  # -2: a value no document has
                keep &= self.codes[column][candidates] == code
        bounds = (
            ("trl", np.greater_equal, query.trl_min),
            ("trl", np.less_equal, query.trl_max),
            # A price range filter keeps documents whose own range overlaps it ("negotiable" has none: left out).
            ("amount_max_fen", np.greater_equal, query.amount_min_fen),
            ("amount_min_fen", np.less_equal, query.amount_max_fen),
        )
        for column, compare, bound in bounds:
            if bound is not None:
                keep &= compare(self.numbers[column][candidates], bound)
        if query.mode is not None:
            member = self.modes.get(query.mode)
            if member is None:
                keep[:] = False
            else:
                keep &= member[candidates]
        return keep

    def facet(self, column: str, rowids: npt.NDArray[np.int64]) -> dict[str, int]:
        """The top MAX_FACET_VALUES values of ``column`` among ``rowids`` with their counts (most first)."""
        counts: dict[Any, int]
        if column == "modes":
            counts = {mode: int(np.count_nonzero(member[rowids])) for mode, member in self.modes.items()}
        else:
            codes = self.codes[column][rowids]
            tally = np.bincount(codes[codes >= 0], minlength=len(self.values[column]))
            counts = {self.values[column][code]: int(tally[code]) for code in np.flatnonzero(tally)}
        ranked = sorted(((v, n) for v, n in counts.items() if n), key=lambda item: (-item[1], str(item[0])))
        return {str(value): count for value, count in ranked[:MAX_FACET_VALUES]}

    def ordered(self, sort: Sort, rowids: npt.NDArray[np.int64], want: int) -> list[int]:
        """The first ``want`` of ``rowids`` by price (lowest first, none last) or else by date (newest first)."""
        published = self.numbers["published_ts"][rowids]
        newest = np.where(np.isnan(published), np.inf, -published)
        keys = [newest, -rowids]  # ties: the later-inserted document first
        if sort == "price":
            price = self.numbers["amount_min_fen"][rowids]
            keys.insert(0, np.where(np.isnan(price), np.inf, price))
        if len(rowids) > want:
            # Only rows up to the want-th smallest primary key can be in the page: sort those alone.
            threshold = np.partition(keys[0], want - 1)[want - 1]
            near = keys[0] <= threshold
            keys = [key[near] for key in keys]
            rowids = rowids[near]
        order = np.lexsort(keys[::-1])[:want]  # lexsort sorts by its last key first
        return [int(rowid) for rowid in rowids[order]]


class _Vectors:
    """The embeddings of one index file as a matrix indexed by rowid, for semantic search.

    Unlike the columnar copy it is updated in place (a copy per write would move ~150 MB at 100,000 documents),
    under the columns lock and together with it. A search on an older copy may therefore see a vector newer
    than its snapshot, never another document's: a removed row's vector is cleared before its rowid is reused.
    """

    def __init__(self) -> None:
        self.matrix = np.zeros((0, 0), dtype=np.float32)
        self.has = np.zeros(0, dtype=np.bool_)

    def apply(self, rows: Sequence[tuple[Any, ...]], cleared: Sequence[int], *, full: bool) -> None:
        """Clear ``cleared`` (everything when ``full``), then set the vectors of ``rows`` (rows of _LOAD)."""
        if full:
            self.has = np.zeros(0, dtype=np.bool_)
        else:
            self.has[[r for r in cleared if r < len(self.has)]] = False
        with_vector = [(int(row[0]), np.frombuffer(row[-1], dtype="<f4")) for row in rows if row[-1] is not None]
        for rowid, vector in with_vector:
            if self.matrix.shape[1] != len(vector):
                # First vector, or the model changed its dimensions: vectors of the old model no longer compare.
                self.matrix = np.zeros((0, len(vector)), dtype=np.float32)
                self.has = np.zeros(0, dtype=np.bool_)
            if rowid >= len(self.matrix):
                capacity = max(rowid + 1, len(self.matrix) * 3 // 2, 1024)
                grown = np.zeros((capacity, self.matrix.shape[1]), dtype=np.float32)
                grown[: len(self.matrix)] = self.matrix
                self.matrix = grown
            if rowid >= len(self.has):
                has = np.zeros(len(self.matrix), dtype=np.bool_)
                has[: len(self.has)] = self.has
                self.has = has
            self.matrix[rowid] = vector
            self.has[rowid] = True

    def cosines(
        self, rowids: npt.NDArray[np.int64], query: Sequence[float]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """The rowids of ``rowids`` that have a vector comparable with ``query``, with their cosine similarity."""
        matrix, has = self.matrix, self.has  # one consistent pair even if a writer replaces them meanwhile
        if matrix.shape[1] != len(query) or not len(rowids):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        rowids = rowids[rowids < len(has)]
        rowids = rowids[has[rowids]]
        vector = np.asarray(query, dtype=np.float32)
        if len(rowids) > len(matrix) // 4:
            # Most documents: one pass over the whole matrix beats gathering the rows first.
            return rowids, (matrix @ vector)[rowids]
        return rowids, matrix[rowids] @ vector


class _Builder(IndexBuilder):
    def __init__(self, engine: EmbeddedEngine, kind: Kind, index: _IndexFile) -> None:
        self._engine = engine
        self._kind = kind
        self._index = index

    async def apply(self, upserts: Sequence[IndexDocument], deletes: Sequence[tuple[str, int]]) -> None:
        await asyncio.to_thread(self._index.apply, upserts, deletes)

    async def commit(self) -> None:
        await asyncio.to_thread(self._index.finish)
        self._index.close()
        self._engine.point_to(self._kind, self._index.path.name)
        self._engine.refresh(self._kind)

    async def abort(self) -> None:
        self._index.close()
        _unlink_generation(self._index.path)


def _unlink_generation(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")


class EmbeddedEngine(SearchEngine):
    """SQLite FTS5 files under ``directory``, one per kind, swapped by pointer files."""

    name = "embedded"

    def __init__(
        self, directory: Path, segmenter: Segmenter, *, distribution: ranking.Distribution | None = None
    ) -> None:
        self.directory = directory
        self.segmenter = segmenter
        # Where the embedder's similarities are packed (as Meilisearch's embedder setting `distribution`).
        self.distribution = distribution
        self._live: dict[Kind, _IndexFile] = {}
        self._pointer_stamp: dict[Kind, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def _pointer(self, kind: Kind) -> Path:
        return self.directory / f"{kind}.current"

    def point_to(self, kind: Kind, filename: str) -> None:
        """Atomically make ``filename`` the live generation of ``kind``."""
        pointer = self._pointer(kind)
        temporary = pointer.with_suffix(f".tmp-{uuid.uuid4().hex}")
        temporary.write_text(filename, encoding="utf-8")
        os.replace(temporary, pointer)

    def refresh(self, kind: Kind) -> _IndexFile:
        """The live generation of ``kind``, reopened when the pointer changed (one ``stat`` when it did not)."""
        pointer = self._pointer(kind)
        stat = pointer.stat()
        stamp = (stat.st_ino, stat.st_mtime_ns)
        with self._lock:
            current = self._live.get(kind)
            if current is not None and self._pointer_stamp.get(kind) == stamp:
                return current
            name = pointer.read_text(encoding="utf-8").strip()
            if current is not None and current.path.name == name:
                self._pointer_stamp[kind] = stamp
                return current
            fresh = _IndexFile(self.directory / name, self.segmenter)
            self._live[kind] = fresh
            self._pointer_stamp[kind] = stamp
        if current is not None:
            current.close()
            _unlink_generation(current.path)
        return fresh

    def _create_empty(self, path: Path) -> None:
        _IndexFile(path, self.segmenter).close()

    async def open(self) -> None:
        """Create the folder and an empty generation per kind when none exists yet; load the columnar copies."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for kind in KINDS:
            if not self._pointer(kind).exists():
                name = f"{kind}-{uuid.uuid4().hex}.sqlite"
                await asyncio.to_thread(self._create_empty, self.directory / name)
                self.point_to(kind, name)
            index = await asyncio.to_thread(self.refresh, kind)
            await asyncio.to_thread(index.load_columns)

    async def close(self) -> None:
        with self._lock:
            live, self._live = self._live, {}
            self._pointer_stamp.clear()
        for index in live.values():
            index.close()

    async def apply(self, kind: Kind, upserts: Sequence[IndexDocument], deletes: Sequence[tuple[str, int]]) -> None:
        if not upserts and not deletes:
            return
        index = self.refresh(kind)
        await asyncio.to_thread(index.apply, upserts, deletes)

    async def search(self, query: SearchQuery, *, highlight: Sequence[str]) -> SearchResult:
        terms = self.segmenter.query_terms(query.q) if query.q else []
        index = self.refresh(query.kind)
        return await asyncio.to_thread(index.search, query, terms, highlight, self.distribution)

    async def indexed_versions(self, kind: Kind) -> dict[str, int]:
        index = self.refresh(kind)
        return await asyncio.to_thread(index.versions)

    async def begin_rebuild(self, kind: Kind) -> IndexBuilder:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{kind}-{uuid.uuid4().hex}.sqlite"
        index = await asyncio.to_thread(_IndexFile, path, self.segmenter)
        return _Builder(self, kind, index)


@dataclass(frozen=True, slots=True)
class DocumentMatch:
    """How one document matches a query: its word rank out of the strategy's groups, and the words it holds."""

    rank: int
    groups: int
    matched: tuple[str, ...]


class DocumentMatcher:
    """The embedded engine's match rules applied to one document, for percolation (which saved searches would find
    a listing).

    The document alone sits in an in-memory FTS5 table of the engine's own declaration (FTS_TABLE), its text
    tokenized by the same segmenter, and a one-row columnar copy (_Columns); each query word's FTS5 expression
    (_term_match), the strategy's word ranks (ranking.word_ranks) and the filters (_Columns.passes) are the very
    code a search runs. So a query matches here exactly when a search of the index would return the document,
    whatever else the index holds — as long as the strategy does not depend on the other documents: ``frequency``
    does (which word is mandatory depends on the index's word counts) and is refused.

    Each query word is looked up once per matcher (saved searches share many words). Not thread-safe: one matcher
    per document, used by one thread; :meth:`close` frees it.
    """

    _ROWID = 1

    def __init__(self, doc: IndexDocument, segmenter: Segmenter) -> None:
        self._db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self._db.execute(FTS_TABLE)
        self._db.execute(
            "INSERT INTO fts (rowid, title, keywords, body) VALUES (?, ?, ?, ?)",
            (
                self._ROWID,
                segmenter.index_text(doc.title),
                segmenter.index_text(doc.keywords),
                segmenter.index_text(doc.body),
            ),
        )
        # The row as _LOAD reads it back from docs (see _IndexFile._upsert for how modes are stored).
        row = (self._ROWID, *(getattr(doc, column) for column in _COPIED), " ".join(sorted(set(doc.modes))), None)
        self._columns = _Columns.empty().updated(0, [row], ())
        self._this = np.array([self._ROWID], dtype=np.int64)
        self._none = np.zeros(0, dtype=np.int64)
        self._holds: dict[str, bool] = {}

    def close(self) -> None:
        self._db.close()

    def holds(self, term: QueryTerm) -> bool:
        """Whether the document holds a query word (whole, by its bigrams, or as a prefix when the term is one)."""
        match = _term_match(term)
        found = self._holds.get(match)
        if found is None:
            found = self._db.execute("SELECT 1 FROM fts WHERE fts MATCH ?", (match,)).fetchone() is not None
            self._holds[match] = found
        return found

    def match(self, query: SearchQuery, terms: Sequence[QueryTerm]) -> DocumentMatch | None:
        """How the document matches ``query`` (``terms``: its words, Segmenter.query_terms), or None when a search
        would not return it. Without words every document passing the filters matches (rank and groups 0)."""
        if query.matching == "frequency":
            raise ValueError("the frequency strategy depends on the whole index: it cannot be decided for one document")
        if not self._columns.passes(query, self._this)[0]:
            return None
        if not terms:
            return DocumentMatch(0, 0, ())
        held = [self.holds(term) for term in terms]
        universe, ranks, groups = ranking.word_ranks([self._this if h else self._none for h in held], query.matching)
        if not len(universe):
            return None
        return DocumentMatch(int(ranks[0]), groups, tuple(t.word for t, h in zip(terms, held, strict=True) if h))
