"""The embedding job: give pending documents their vectors, off the request path, in batches.

A document is pending when it is searchable and no vector of the current model exists for its current text
(``search_documents.text_hash``): new documents, changed texts, and everything after a model change. One batch:

1. Claim (short transaction): pick up to ``batch_size`` pending documents no other job holds and record a claim
   on each until a lease ends (PostgreSQL: ``FOR UPDATE SKIP LOCKED`` while claiming, so two jobs — two search
   containers, or the server and ``techmarket search embed`` — pick different documents). A job that dies leaves
   its claims to expire.
2. Embed the texts, outside any transaction, in the embedder's threads or on its server.
3. Store (one transaction): the vectors with the hash of the text each was made from, drop the claims, then lock
   the documents' current rows (``FOR UPDATE SKIP LOCKED``: never waits on ingestion, so no deadlock), and write
   each document whose current text is still the embedded one to the engine, with its vector, at its CURRENT
   version (an equal version replaces; a newer one written by ingestion meanwhile is never undone). Its
   ``updated_at`` is bumped so that a rebuild running meanwhile replays it.

Why nothing is missed: ingestion looks up stored vectors after its own upserts, under the same row locks. If it
held a row first, the job skipped it and retries it a moment later (its vector committed by then); if the job
held it first, ingestion waited for the job's commit and then finds the vector. A vector is always stored with
the hash of the text it was made from, so duplicated or late work can make a vector useless (pending again),
never wrong.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.search.documents.repository import DocumentRepository
from services.search.documents.service import parse_fields, to_index_document
from services.search.embeddings.embedders import Embedder, EmbedderError
from services.search.embeddings.repository import EmbeddingRepository, PendingDocument
from services.search.embeddings.service import document_text_hash, embedding_text, pack_vector
from services.search.engines.base import KINDS, IndexDocument, SearchEngine
from shared.clock import utcnow

__all__ = ["CLAIM_LEASE", "EmbedReport", "embed_pending", "run_forever"]

logger = logging.getLogger("techmarket.search.embeddings")

# How long a claimed batch is reserved; far longer than a batch takes (16 texts: ~10 s on one local thread).
CLAIM_LEASE = dt.timedelta(minutes=5)
# Rows an ingestion transaction holds are retried this many times, this far apart (ingestion takes milliseconds).
LOCKED_RETRIES = 50
LOCKED_PAUSE_SECONDS = 0.2

Key = tuple[str, uuid.UUID]


@dataclass
class EmbedReport:
    """What a run of the job did."""

    embedded: int = 0  # texts embedded and stored
    applied: int = 0  # documents written to the engine with their vector
    failed: int = 0  # texts the embedder failed on (retried when their claim expires)
    batches: int = 0


@dataclass(frozen=True, slots=True)
class _Embedded:
    text_hash: str
    vector: tuple[float, ...]


def _texts(batch: list[PendingDocument]) -> dict[Key, tuple[str, str]]:
    """(embedding text, its hash) per document; one whose stored fields no longer validate is left out."""
    texts: dict[Key, tuple[str, str]] = {}
    for doc in batch:
        try:
            fields = parse_fields(doc.kind, doc.fields)  # type: ignore[arg-type]
        except PydanticValidationError as exc:
            logger.warning("stored fields of %s %s do not validate; not embedded: %s", doc.kind, doc.id, exc)
            continue
        texts[(doc.kind, doc.id)] = (embedding_text(fields), document_text_hash(fields))
    return texts


async def _claim(
    sessionmaker: async_sessionmaker[AsyncSession], *, model: str, limit: int, now: dt.datetime
) -> tuple[bool, list[PendingDocument]]:
    """(whether anything was pending, the documents this job claimed)."""
    async with sessionmaker() as session, session.begin():
        repository = EmbeddingRepository.from_session(session)
        candidates = await repository.pending(model=model, limit=limit, now=now)
        if not candidates:
            return False, []
        claimed = await repository.claim([(c.kind, c.id) for c in candidates], until=now + CLAIM_LEASE, now=now)
        return True, [c for c in candidates if (c.kind, c.id) in claimed]


async def _release(sessionmaker: async_sessionmaker[AsyncSession], keys: list[Key]) -> None:
    async with sessionmaker() as session, session.begin():
        await EmbeddingRepository.from_session(session).release(keys)


async def _apply_current(
    session: AsyncSession, engine: SearchEngine, embedded: dict[Key, _Embedded], *, now: dt.datetime
) -> tuple[set[Key], int]:
    """Write the locked current rows whose text is the embedded one to the engine; (keys skipped as locked, applied)."""
    documents = DocumentRepository.from_session(session)
    skipped: set[Key] = set()
    applied = 0
    for kind in KINDS:
        ids = [doc_id for k, doc_id in embedded if k == kind]
        if not ids:
            continue
        rows = (await documents.current(kind, ids, lock=True)).values()
        skipped |= {(kind, doc_id) for doc_id in set(ids) - {row.id for row in rows}}
        upserts: list[IndexDocument] = []
        touched: list[tuple[uuid.UUID, int, str]] = []
        for row in rows:
            if not row.searchable or row.fields is None:
                continue  # deleted or withdrawn meanwhile: ingestion took it out of the index
            fields = parse_fields(kind, row.fields)
            made = embedded[(kind, row.id)]
            if document_text_hash(fields) != made.text_hash:
                continue  # its text changed meanwhile: pending again, ingestion wrote the new version
            document = to_index_document(kind, str(row.id), row.version, fields)
            upserts.append(dataclasses.replace(document, vector=made.vector))
            touched.append((row.id, row.version, made.text_hash))
        await engine.apply(kind, upserts, [])
        await documents.touch(kind, touched, now=now)
        applied += len(upserts)
    return skipped, applied


async def _store_and_apply(
    sessionmaker: async_sessionmaker[AsyncSession],
    engine: SearchEngine,
    embedder: Embedder,
    embedded: dict[Key, _Embedded],
    released: list[Key],
    clock: Callable[[], dt.datetime],
) -> int:
    """Store the vectors, drop the claims and write the engine; returns how many documents got their vector."""
    now = clock()
    async with sessionmaker() as session, session.begin():
        repository = EmbeddingRepository.from_session(session)
        await repository.release(released)
        await repository.store(
            [(kind, doc_id, made.text_hash, pack_vector(made.vector)) for (kind, doc_id), made in embedded.items()],
            model=embedder.name,
            dimensions=embedder.dimensions,
            now=now,
        )
        skipped, applied = await _apply_current(session, engine, embedded, now=now)
    for _ in range(LOCKED_RETRIES):
        if not skipped:
            break
        await asyncio.sleep(LOCKED_PAUSE_SECONDS)
        async with sessionmaker() as session, session.begin():
            remaining = {key: embedded[key] for key in skipped}
            skipped, more = await _apply_current(session, engine, remaining, now=clock())
            applied += more
    if skipped:
        logger.warning(
            "documents stayed locked; their vectors reach the index with their next write or a reindex",
            extra={"documents": len(skipped)},
        )
    return applied


async def embed_pending(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    engine: SearchEngine,
    embedder: Embedder,
    batch_size: int,
    max_batches: int | None = None,
    progress: Callable[[int], object] | None = None,
    clock: Callable[[], dt.datetime] = utcnow,
) -> EmbedReport:
    """Embed pending documents batch by batch until none is left (or ``max_batches``, or the embedder fails)."""
    report = EmbedReport()
    while max_batches is None or report.batches < max_batches:
        anything, batch = await _claim(sessionmaker, model=embedder.name, limit=batch_size, now=clock())
        if not anything:
            break
        if not batch:
            continue  # another job claimed these at the same moment; the next query skips its claims
        report.batches += 1
        texts = _texts(batch)
        keys = list(texts)
        try:
            vectors = await embedder.embed_passages([texts[key][0] for key in keys])
        except EmbedderError as exc:
            # The claims stay until their lease ends: these documents wait, the others are tried on the next run.
            logger.warning("embedding a batch failed", extra={"documents": len(keys), "error": str(exc)})
            report.failed += len(keys)
            break
        except asyncio.CancelledError:
            # Shutdown: give the batch back now, so that the next start does not wait for the lease.
            await _release(sessionmaker, [(doc.kind, doc.id) for doc in batch])
            raise
        embedded = {key: _Embedded(texts[key][1], vector) for key, vector in zip(keys, vectors, strict=True)}
        # Documents left out by _texts keep their claims: retried when the lease ends, not in a tight loop.
        report.applied += await _store_and_apply(sessionmaker, engine, embedder, embedded, keys, clock)
        report.embedded += len(embedded)
        if progress is not None:
            progress(len(batch))
    return report


async def run_forever(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    engine: SearchEngine,
    embedder: Embedder,
    batch_size: int,
    interval: float,
) -> None:
    """Run the job every ``interval`` seconds until cancelled (first after one interval: startup stays light)."""
    while True:
        await asyncio.sleep(interval)
        try:
            report = await embed_pending(
                sessionmaker=sessionmaker, engine=engine, embedder=embedder, batch_size=batch_size
            )
            if report.embedded:
                logger.info(
                    "embedded documents",
                    extra={"embedded": report.embedded, "applied": report.applied, "model": embedder.name},
                )
        except Exception:  # a database or engine hiccup must not end the loop; log and retry after the interval
            logger.exception("embedding job round failed")
