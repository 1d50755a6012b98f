"""All SQL of the embeddings: stored vectors, pending documents, claims and the status counts."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.search.documents.models import IndexedDocument
from services.search.embeddings.models import DocumentEmbedding, EmbeddingClaim

__all__ = ["EmbeddingRepository", "PendingDocument", "StoredVector"]

Key = tuple[str, uuid.UUID]

_documents = IndexedDocument.__table__  # type: ignore[attr-defined]
_embeddings = DocumentEmbedding.__table__  # type: ignore[attr-defined]
_claims = EmbeddingClaim.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class PendingDocument:
    """A searchable document whose current text has no vector of the current model yet."""

    kind: str
    id: uuid.UUID
    version: int
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoredVector:
    """A stored vector and the hash of the text it was made from."""

    text_hash: str
    vector: bytes


class EmbeddingRepository:
    """Queries on ``search_embeddings`` and ``search_embedding_claims`` (joined with ``search_documents``)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> EmbeddingRepository:
        """The repository of a session."""
        return cls(session)

    def _insert(self, table: Any) -> Any:
        dialect = self.session.bind.dialect.name if self.session.bind is not None else "sqlite"
        return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)

    async def stored(self, kind: str, ids: Sequence[uuid.UUID], *, model: str) -> dict[uuid.UUID, StoredVector]:
        """The vectors of ``model`` stored for ``ids`` (of one kind), by id: one SELECT."""
        if not ids:
            return {}
        rows = await self.session.execute(
            select(_embeddings.c.id, _embeddings.c.text_hash, _embeddings.c.vector).where(
                _embeddings.c.kind == kind, _embeddings.c.model == model, _embeddings.c.id.in_(list(ids))
            )
        )
        return {row.id: StoredVector(row.text_hash, bytes(row.vector)) for row in rows}

    def _pending_condition(self, model: str) -> Any:
        """Join target and condition: searchable documents without a vector of ``model`` for their current text."""
        return _documents.outerjoin(
            _embeddings,
            and_(
                _embeddings.c.kind == _documents.c.kind,
                _embeddings.c.id == _documents.c.id,
                _embeddings.c.model == model,
                # A NULL text_hash (a row written before embeddings existed) never matches: it is pending.
                _embeddings.c.text_hash == _documents.c.text_hash,
            ),
        )

    async def pending(self, *, model: str, limit: int, now: dt.datetime) -> list[PendingDocument]:
        """Up to ``limit`` pending documents that no job holds, oldest change first, locked for this transaction.

        PostgreSQL: FOR UPDATE OF search_documents SKIP LOCKED, so two jobs claiming at once pick different rows.
        """
        joined = self._pending_condition(model).outerjoin(
            _claims,
            and_(
                _claims.c.kind == _documents.c.kind,
                _claims.c.id == _documents.c.id,
                _claims.c.claimed_until > now,
            ),
        )
        query = (
            select(_documents.c.kind, _documents.c.id, _documents.c.version, _documents.c.fields)
            .select_from(joined)
            .where(
                _documents.c.searchable.is_(True),
                _documents.c.fields.is_not(None),
                _embeddings.c.id.is_(None),
                _claims.c.id.is_(None),
            )
            .order_by(_documents.c.updated_at)
            .limit(limit)
            .with_for_update(of=_documents, skip_locked=True)
        )
        rows = await self.session.execute(query)
        return [PendingDocument(row.kind, row.id, int(row.version), dict(row.fields)) for row in rows]

    async def claim(self, keys: Sequence[Key], *, until: dt.datetime, now: dt.datetime) -> set[Key]:
        """Claim documents until ``until``; returns those claimed (a live claim of another job is left alone)."""
        if not keys:
            return set()
        statement = self._insert(_claims).values(
            [{"kind": kind, "id": doc_id, "claimed_until": until} for kind, doc_id in keys]
        )
        statement = statement.on_conflict_do_update(
            index_elements=[_claims.c.kind, _claims.c.id],
            set_={"claimed_until": statement.excluded.claimed_until},
            where=_claims.c.claimed_until <= now,
        ).returning(_claims.c.kind, _claims.c.id)
        return {(row.kind, row.id) for row in await self.session.execute(statement)}

    async def release(self, keys: Sequence[Key]) -> None:
        """Drop the claims of ``keys``."""
        for kind in sorted({kind for kind, _ in keys}):
            ids = [doc_id for k, doc_id in keys if k == kind]
            await self.session.execute(_claims.delete().where(_claims.c.kind == kind, _claims.c.id.in_(ids)))

    async def store(
        self, rows: Sequence[tuple[str, uuid.UUID, str, bytes]], *, model: str, dimensions: int, now: dt.datetime
    ) -> None:
        """Insert or replace the vectors ``(kind, id, text_hash, vector)`` made by ``model``."""
        if not rows:
            return
        # Sorted: two jobs writing overlapping batches lock the rows in the same order (no deadlock).
        values = [
            {
                "kind": kind,
                "id": doc_id,
                "model": model,
                "text_hash": text_hash,
                "vector": vector,
                "dimensions": dimensions,
                "updated_at": now,
            }
            for kind, doc_id, text_hash, vector in sorted(rows, key=lambda row: (row[0], str(row[1])))
        ]
        statement = self._insert(_embeddings).values(values)
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[_embeddings.c.kind, _embeddings.c.id],
                set_={
                    key: statement.excluded[key] for key in ("model", "text_hash", "vector", "dimensions", "updated_at")
                },
            )
        )

    async def counts(self, *, model: str | None) -> tuple[int, int]:
        """(searchable documents, those pending for ``model``), in one statement; no model: nothing is pending."""
        if model is None:
            total = await self.session.scalar(
                select(func.count()).select_from(_documents).where(_documents.c.searchable.is_(True))
            )
            return int(total or 0), 0
        row = (
            await self.session.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(case((_embeddings.c.id.is_(None), 1), else_=0)), 0),
                )
                .select_from(self._pending_condition(model))
                .where(_documents.c.searchable.is_(True))
            )
        ).one()
        return int(row[0]), int(row[1])
