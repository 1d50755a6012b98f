"""All SQL of ingestion: read the version table, record a newer version (race-safe), list changes."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.search.documents.models import IndexedDocument

__all__ = ["DocumentRepository"]


class DocumentRepository:
    """Queries on ``search_documents`` within one session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> DocumentRepository:
        """The repository of a session."""
        return cls(session)

    async def current(
        self, kind: str, ids: Sequence[uuid.UUID], *, lock: bool = False
    ) -> dict[uuid.UUID, IndexedDocument]:
        """The rows of ``ids`` (of one kind) that exist.

        ``lock``: lock them until the transaction ends, leaving out rows another transaction holds (PostgreSQL:
        FOR UPDATE SKIP LOCKED, which never waits, so it cannot deadlock with ingestion's row locks; SQLite's
        single writer already serializes the transaction).
        """
        if not ids:
            return {}
        query = select(IndexedDocument).where(
            IndexedDocument.kind == kind,  # type: ignore[arg-type]
            IndexedDocument.id.in_(list(ids)),  # type: ignore[attr-defined]
        )
        if lock:
            query = query.with_for_update(skip_locked=True).execution_options(populate_existing=True)
        rows = await self.session.scalars(query)
        return {row.id: row for row in rows}

    async def record_if_newer(
        self,
        *,
        kind: str,
        id: uuid.UUID,
        version: int,
        deleted: bool,
        searchable: bool,
        fields: dict[str, Any] | None,
        now: dt.datetime,
        text_hash: str | None = None,
    ) -> bool:
        """Insert or overwrite the row when ``version`` is newer than the stored one; whether it was written.

        One statement (INSERT ... ON CONFLICT DO UPDATE ... WHERE version < new), so two concurrent batches
        cannot both win: the row lock orders them, and the older one finds the newer version in place.
        """
        values = {
            "kind": kind,
            "id": id,
            "version": version,
            "deleted": deleted,
            "searchable": searchable,
            "fields": fields,
            "text_hash": text_hash,
            "updated_at": now,
        }
        dialect = self.session.bind.dialect.name if self.session.bind is not None else "sqlite"
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        table = IndexedDocument.__table__  # type: ignore[attr-defined]
        statement = insert(table).values(**values)
        upsert = statement.on_conflict_do_update(
            index_elements=[table.c.kind, table.c.id],
            set_={key: statement.excluded[key] for key in values if key not in ("kind", "id")},
            where=table.c.version < statement.excluded.version,
        ).returning(table.c.id)
        result = await self.session.execute(upsert)
        return result.first() is not None

    async def touch(self, kind: str, versions: Sequence[tuple[uuid.UUID, int, str]], *, now: dt.datetime) -> None:
        """Mark ``(id, version, text_hash)`` rows as rewritten in the index now (a rebuild replays them)."""
        if not versions:
            return
        table = IndexedDocument.__table__  # type: ignore[attr-defined]
        statement = (
            update(table)
            .where(
                table.c.kind == kind,
                table.c.id == bindparam("doc_id"),
                table.c.version == bindparam("doc_version"),
            )
            .values(updated_at=now, text_hash=bindparam("doc_hash"))
        )
        await self.session.execute(
            statement,
            [
                {"doc_id": doc_id, "doc_version": version, "doc_hash": text_hash}
                for doc_id, version, text_hash in versions
            ],
        )

    async def changed_since(self, since: dt.datetime) -> list[IndexedDocument]:
        """Rows written at or after ``since`` (what a rebuild must replay on the new index)."""
        rows = await self.session.scalars(
            select(IndexedDocument)
            .where(IndexedDocument.updated_at >= since)  # type: ignore[arg-type]
            .execution_options(populate_existing=True)
        )
        return list(rows)
