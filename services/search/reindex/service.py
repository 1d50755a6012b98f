"""Rebuild an index of one kind from market, beside the live one, then swap (no downtime).

Steps for a kind:

1. Start a new index (the live one keeps answering and keeps receiving the relay's batches).
2. Page through market's list. Each item is whitelisted and recorded in the version table like an ingested
   upsert (newer versions win, tombstones stay); the new index gets each document at the newest version the table
   knows — so a relay batch that was faster than the page is not undone.
3. Replay on the new index every version-table row written since the rebuild started (relay batches that went
   to the old index meanwhile), then swap.
4. Replay rows written since just before the swap on the live index, twice, a moment apart: a batch that was
   in flight during the swap may have written the old index.

A document the market no longer lists is simply absent from the new index: that is what a rebuild repairs.
Every document carries the vector stored for its current text by the current embedder (``embedding_model``), if
any, so a rebuild keeps semantic search; the embedding job bumps ``updated_at`` of what it gives a vector, so the
replays of step 3 and 4 also carry vectors made during the rebuild.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.search.documents.models import IndexedDocument
from services.search.documents.repository import DocumentRepository
from services.search.documents.service import documents_from_rows, is_searchable, parse_fields
from services.search.embeddings import service as embeddings_service
from services.search.engines.base import IndexDocument, Kind, SearchEngine
from services.search.reindex.client import MarketClient
from shared.clock import utcnow

__all__ = ["ReindexReport", "reindex_kind"]

logger = logging.getLogger("techmarket.search.reindex")

# Clock skew allowance between this process and the server process writing the same version table.
REPLAY_MARGIN = dt.timedelta(seconds=2)


@dataclass
class ReindexReport:
    """What a rebuild of one kind did."""

    kind: Kind
    listed: int = 0
    indexed: int = 0
    invalid: int = 0
    replayed: int = 0


def _parse(kind: Kind, item: dict[str, Any]) -> tuple[uuid.UUID, int, Any] | None:
    try:
        doc_id = uuid.UUID(str(item["id"]))
        version = int(item.get("version", 0))
        return doc_id, version, parse_fields(kind, item)
    except (KeyError, ValueError, TypeError, PydanticValidationError) as exc:
        logger.warning("skipping a %s market listed that does not validate: %s", kind, exc)
        return None


async def _with_vectors(
    session: AsyncSession, kind: Kind, rows: list[IndexedDocument], embedding_model: str | None
) -> tuple[list[IndexDocument], list[tuple[str, int]]]:
    """The engine writes of version-table rows, each upsert with its stored vector when there is one."""
    upserts, deletes = documents_from_rows(kind, rows)
    upserts = await embeddings_service.attach_stored_vectors(
        session=session,
        model=embedding_model,
        kind=kind,
        documents=upserts,
        text_hashes={str(row.id): row.text_hash for row in rows},
    )
    return upserts, deletes


async def _replay(
    sessionmaker: async_sessionmaker[AsyncSession],
    kind: Kind,
    since: dt.datetime,
    write: Callable[[list[Any], list[tuple[str, int]]], Any],
    embedding_model: str | None,
    skip: dict[str, int] | None = None,
) -> int:
    async with sessionmaker() as session:
        rows = await DocumentRepository.from_session(session).changed_since(since)
        if skip:
            # Rows this rebuild itself wrote are already in the new index at that version.
            rows = [row for row in rows if skip.get(str(row.id)) != row.version]
        upserts, deletes = await _with_vectors(session, kind, rows, embedding_model)
    await write(upserts, deletes)
    return len(upserts) + len(deletes)


async def reindex_kind(
    *,
    kind: Kind,
    engine: SearchEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    market: MarketClient,
    progress: Callable[[int], object] | None = None,
    settle_seconds: float = 1.0,
    replay_margin: dt.timedelta = REPLAY_MARGIN,
    embedding_model: str | None = None,
) -> ReindexReport:
    """Build a new index of ``kind`` from market's lists and swap it in, with the vectors of ``embedding_model``."""
    report = ReindexReport(kind=kind)
    started = utcnow()
    builder = await engine.begin_rebuild(kind)
    applied: dict[str, int] = {}
    try:
        async for items in market.pages(kind):
            report.listed += len(items)
            parsed = [p for p in (_parse(kind, item) for item in items) if p is not None]
            report.invalid += len(items) - len(parsed)
            async with sessionmaker() as session:
                repository = DocumentRepository.from_session(session)
                now = utcnow()
                for doc_id, version, fields in parsed:
                    await repository.record_if_newer(
                        kind=kind,
                        id=doc_id,
                        version=version,
                        deleted=False,
                        searchable=is_searchable(kind, fields),
                        fields=fields.model_dump(mode="json"),
                        now=now,
                        text_hash=embeddings_service.document_text_hash(fields),
                    )
                await session.commit()
                rows = list((await repository.current(kind, [p[0] for p in parsed])).values())
                upserts, _ = await _with_vectors(session, kind, rows, embedding_model)
            await builder.apply(upserts, [])
            applied.update((doc.id, doc.version) for doc in upserts)
            report.indexed += len(upserts)
            if progress is not None:
                progress(len(items))
        report.replayed += await _replay(
            sessionmaker, kind, started - replay_margin, builder.apply, embedding_model, applied
        )
        swapped_at = utcnow()
        await builder.commit()
    except BaseException:
        await builder.abort()
        raise

    def live(upserts: list[Any], deletes: list[tuple[str, int]]) -> Any:
        return engine.apply(kind, upserts, deletes)

    report.replayed += await _replay(sessionmaker, kind, swapped_at - replay_margin, live, embedding_model)
    await asyncio.sleep(settle_seconds)
    report.replayed += await _replay(sessionmaker, kind, swapped_at - replay_margin, live, embedding_model)
    return report
