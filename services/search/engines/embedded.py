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
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import os
import queue
import sqlite3
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

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
from services.search.segment import QueryTerm, Segmenter, snippet

__all__ = ["EmbeddedEngine", "build_match"]

# Column weights of BM25: a word in the title counts most, then keywords (keywords, field, IPC, owner), then body.
BM25_WEIGHTS = (10.0, 4.0, 1.0)
MAX_FACET_VALUES = 100
# Above this many matches, relevance ranking first tries the documents matching in title or keywords only.
RANK_ALL_LIMIT = 2000

SCHEMA = """
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
CREATE INDEX IF NOT EXISTS docs_technical_field ON docs (technical_field);
CREATE INDEX IF NOT EXISTS docs_region_code ON docs (region_code);
CREATE INDEX IF NOT EXISTS docs_region_city ON docs (region_city);
CREATE INDEX IF NOT EXISTS docs_region_province ON docs (region_province);
CREATE INDEX IF NOT EXISTS docs_published ON docs (published_ts);
CREATE INDEX IF NOT EXISTS docs_amount ON docs (amount_min_fen);
CREATE INDEX IF NOT EXISTS docs_owner ON docs (owner_org_id);
CREATE TABLE IF NOT EXISTS doc_modes (
    mode TEXT NOT NULL,
    docid INTEGER NOT NULL,
    PRIMARY KEY (mode, docid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS doc_modes_docid ON doc_modes (docid);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(title, keywords, body, tokenize = 'unicode61 remove_diacritics 0');
"""


def _quote(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def build_match(terms: Sequence[QueryTerm]) -> str:
    """An FTS5 MATCH expression: every word must match, a long CJK word either whole or by all its bigrams."""
    parts: list[str] = []
    for term in terms:
        if term.bigrams:
            grams = " AND ".join(_quote(g) for g in term.bigrams)
            parts.append(f"({_quote(term.word)} OR ({grams}))")
        else:
            parts.append(_quote(term.word))
    return " AND ".join(parts)


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
                for doc, title, keywords, body in prepared:
                    self._upsert(db, doc, title, keywords, body)
                for doc_id, version in deletes:
                    row = db.execute("SELECT rowid, version FROM docs WHERE id = ?", (doc_id,)).fetchone()
                    if row is not None and row[1] <= version:
                        self._remove(db, row[0])
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    @staticmethod
    def _remove(db: sqlite3.Connection, rowid: int) -> None:
        db.execute("DELETE FROM fts WHERE rowid = ?", (rowid,))
        db.execute("DELETE FROM doc_modes WHERE docid = ?", (rowid,))
        db.execute("DELETE FROM docs WHERE rowid = ?", (rowid,))
        db.execute("DELETE FROM payload WHERE rowid = ?", (rowid,))

    def _upsert(self, db: sqlite3.Connection, doc: IndexDocument, title: str, keywords: str, body: str) -> None:
        row = db.execute("SELECT rowid, version FROM docs WHERE id = ?", (doc.id,)).fetchone()
        if row is not None:
            if row[1] > doc.version:
                return  # an older version never overwrites a newer one
            self._remove(db, row[0])
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
        db.execute(
            "INSERT INTO payload (rowid, card, snippet_source) VALUES (?, ?, ?)",
            (rowid, json.dumps(doc.card, ensure_ascii=False, separators=(",", ":")), doc.snippet_source),
        )
        db.execute("INSERT INTO fts (rowid, title, keywords, body) VALUES (?, ?, ?, ?)", (rowid, title, keywords, body))
        db.executemany(
            "INSERT OR IGNORE INTO doc_modes (mode, docid) VALUES (?, ?)", [(m, rowid) for m in set(doc.modes)]
        )

    def finish(self) -> None:
        """Fold the WAL into the main file (a finished generation is then one self-contained file)."""
        with self._write_lock:
            self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- reads ----------------------------------------------------------------------------------------------

    def versions(self) -> dict[str, int]:
        with self.reader() as db:
            return {row[0]: int(row[1]) for row in db.execute("SELECT id, version FROM docs")}

    def search(self, query: SearchQuery, terms: Sequence[QueryTerm], highlight: Sequence[str]) -> SearchResult:
        where: list[str] = []
        params: list[Any] = []
        if query.technical_field is not None:
            where.append("d.technical_field = ?")
            params.append(query.technical_field)
        if query.region is not None:
            column, value = region_filter(query.region)
            where.append(f"d.{column} = ?")
            params.append(value)
        if query.trl_min is not None:
            where.append("d.trl >= ?")
            params.append(query.trl_min)
        if query.trl_max is not None:
            where.append("d.trl <= ?")
            params.append(query.trl_max)
        # A price range filter keeps documents whose own range overlaps it ("negotiable" has none: left out).
        if query.amount_min_fen is not None:
            where.append("d.amount_max_fen >= ?")
            params.append(query.amount_min_fen)
        if query.amount_max_fen is not None:
            where.append("d.amount_min_fen <= ?")
            params.append(query.amount_max_fen)
        if query.ip_type is not None:
            where.append("d.ip_type = ?")
            params.append(query.ip_type)
        if query.mode is not None:
            where.append("d.rowid IN (SELECT docid FROM doc_modes WHERE mode = ?)")
            params.append(query.mode)
        if query.owner_org_id is not None:
            where.append("d.owner_org_id = ?")
            params.append(query.owner_org_id)

        if terms:
            # CROSS JOIN fixes the join order: the full-text match drives and docs are looked up by rowid. Left
            # to itself, SQLite may scan docs by a filter's index and probe FTS5 per row, which is far slower.
            source = "fts CROSS JOIN docs d ON d.rowid = fts.rowid"
            where.insert(0, "fts MATCH ?")
            params.insert(0, build_match(terms))
            score = "bm25(fts, {}, {}, {})".format(*BM25_WEIGHTS)
        else:
            source = "docs d"
            score = "NULL"
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        if query.sort == "price":
            order = "d.amount_min_fen IS NULL, d.amount_min_fen, d.published_ts DESC"
        elif query.sort == "newest" or not terms:
            order = "d.published_ts IS NULL, d.published_ts DESC, d.rowid DESC"
        else:
            order = "score, d.rowid DESC"

        # Interpolated SQL below holds only our own column names and operators; every value is a bound parameter.
        with self.reader() as db:
            mapping = FACET_FIELDS[query.kind]
            facets: dict[str, dict[str, int]] = {}
            total: int | None = None
            if terms and (len(where) > 1 or query.facets):
                # Filters or facets over a full-text match: one pass over the matches gives the count, the page
                # and the scalar facet counts, instead of one join scan for each of them.
                page, total, facets = _one_pass(db, query, source, clause, params, score, query.facets)
            else:
                if terms and len(where) == 1:
                    # A bare full-text match is counted from the FTS index alone (no join): cheap.
                    total = int(db.execute("SELECT count(*) FROM fts WHERE fts MATCH ?", params).fetchone()[0])
                page_params = params
                if total is not None and order.startswith("score") and total > RANK_ALL_LIMIT:
                    # BM25 of every match is the cost of a very common word. Our column weights put a document whose
                    # title or keywords match above body-only matches in all but contrived cases, so when those alone
                    # fill the requested page, rank only them (documented as the one approximation of ranking).
                    narrowed = [f"{{title keywords}} : ({params[0]})", *params[1:]]
                    in_titles = db.execute(
                        f"SELECT count(*) FROM (SELECT 1 FROM {source}{clause} LIMIT ?)",  # noqa: S608
                        [*narrowed, query.offset + query.limit],
                    ).fetchone()[0]
                    if in_titles >= query.offset + query.limit:
                        page_params = narrowed
                # Otherwise (browsing without q) the page query counts its own rows with a window: one scan. FTS5's
                # bm25() cannot run inside a window query, hence the separate count above.
                counted = ", count(*) OVER () AS total" if total is None else ""
                page = db.execute(
                    f"SELECT d.rowid, d.id, {score} AS score{counted} FROM {source}{clause} "  # noqa: S608
                    f"ORDER BY {order} LIMIT ? OFFSET ?",
                    [*page_params, query.limit, query.offset],
                ).fetchall()
                if total is None:
                    if page:
                        total = int(page[0][3])
                    else:  # past the last page: the window saw no row, so count apart
                        total = int(db.execute(f"SELECT count(*) FROM {source}{clause}", params).fetchone()[0])  # noqa: S608
                page = [row[:3] for row in page]
            marks = ",".join("?" * len(page))
            payloads = {
                rowid: (card, text)
                for rowid, card, text in db.execute(
                    f"SELECT rowid, card, snippet_source FROM payload WHERE rowid IN ({marks})",  # noqa: S608
                    [row[0] for row in page],
                )
            }
            rows = [(doc_id, *payloads[rowid], raw) for rowid, doc_id, raw in page]
            for name in query.facets:
                if name in facets:
                    continue
                column = mapping[name]
                if column == "modes":
                    sql = (
                        f"SELECT m.mode, count(*) FROM {source} JOIN doc_modes m ON m.docid = d.rowid{clause} "  # noqa: S608
                        f"GROUP BY m.mode ORDER BY 2 DESC, 1 LIMIT {MAX_FACET_VALUES}"
                    )
                else:
                    extra = f"d.{column} IS NOT NULL"
                    facet_clause = f"{clause} AND {extra}" if clause else f" WHERE {extra}"
                    sql = (
                        f"SELECT d.{column}, count(*) FROM {source}{facet_clause} "  # noqa: S608
                        f"GROUP BY d.{column} ORDER BY 2 DESC, 1 LIMIT {MAX_FACET_VALUES}"
                    )
                facets[name] = {str(value): int(count) for value, count in db.execute(sql, params)}

        hits = [
            SearchHit(
                id=doc_id,
                score=None if raw_score is None else -float(raw_score),
                card=json.loads(card),
                snippet=snippet(source_text, highlight),
            )
            for doc_id, card, source_text, raw_score in rows
        ]
        return SearchResult(hits=hits, total=int(total), total_is_exact=True, facets=facets)


# Facet columns read by the one-pass query; "modes" is the space-separated copy of doc_modes kept on docs.
_FACET_COLUMNS = ("technical_field", "region_city", "trl", "ip_type", "modes")


def _one_pass(
    db: sqlite3.Connection,
    query: SearchQuery,
    source: str,
    clause: str,
    params: list[Any],
    score: str,
    facet_names: Sequence[str],
) -> tuple[list[tuple[Any, ...]], int, dict[str, dict[str, int]]]:
    """Every match with its sort keys and facet values in one scan; count, page and facets computed here."""
    rows = db.execute(
        f"SELECT d.rowid, d.id, {score}, d.published_ts, d.amount_min_fen, "  # noqa: S608
        f"{', '.join('d.' + c for c in _FACET_COLUMNS)} FROM {source}{clause}",
        params,
    ).fetchall()
    key: Callable[[tuple[Any, ...]], tuple[Any, ...]]
    if query.sort == "price":
        key = lambda r: (r[4] is None, r[4] or 0, -(r[3] or 0), -r[0])  # noqa: E731
    elif query.sort == "newest":
        key = lambda r: (r[3] is None, -(r[3] or 0), -r[0])  # noqa: E731
    else:
        key = lambda r: (r[2], -r[0])  # noqa: E731  (bm25 is negative: smaller is better)
    page = [row[:3] for row in heapq.nsmallest(query.offset + query.limit, rows, key=key)[query.offset :]]
    mapping = FACET_FIELDS[query.kind]
    facets: dict[str, dict[str, int]] = {}
    for name in facet_names:
        position = 5 + _FACET_COLUMNS.index(mapping[name])
        if mapping[name] == "modes":
            counts = Counter(mode for row in rows for mode in row[position].split())
        else:
            counts = Counter(row[position] for row in rows if row[position] is not None)
        ranked = sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))[:MAX_FACET_VALUES]
        facets[name] = {str(value): count for value, count in ranked}
    return page, len(rows), facets


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

    def __init__(self, directory: Path, segmenter: Segmenter) -> None:
        self.directory = directory
        self.segmenter = segmenter
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
        """Create the folder and an empty generation per kind when none exists yet."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for kind in KINDS:
            if not self._pointer(kind).exists():
                name = f"{kind}-{uuid.uuid4().hex}.sqlite"
                await asyncio.to_thread(self._create_empty, self.directory / name)
                self.point_to(kind, name)
            await asyncio.to_thread(self.refresh, kind)

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
        return await asyncio.to_thread(index.search, query, terms, highlight)

    async def indexed_versions(self, kind: Kind) -> dict[str, int]:
        index = self.refresh(kind)
        return await asyncio.to_thread(index.versions)

    async def begin_rebuild(self, kind: Kind) -> IndexBuilder:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{kind}-{uuid.uuid4().hex}.sqlite"
        index = await asyncio.to_thread(_IndexFile, path, self.segmenter)
        return _Builder(self, kind, index)
