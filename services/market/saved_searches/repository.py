"""All SQL of saved searches, their hits and the alert jobs (the demands' standing alerts: match_alerts)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.market.saved_searches.models import MatchAlertJob, SavedSearch, SavedSearchHit

__all__ = ["SavedSearchRepository"]


class SavedSearchRepository:
    """Reads and writes ``saved_searches``, ``match_alert_jobs`` and ``saved_search_hits``."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def dialect(self) -> str:
        """postgresql or sqlite."""
        return self.session.get_bind().dialect.name

    def _insert(self, table: Any) -> Any:
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    # -- the searches ------------------------------------------------------------------------------------------------

    async def add(self, row: SavedSearch) -> None:
        self.session.add(row)
        await self.session.flush()

    async def flush(self) -> None:
        await self.session.flush()

    async def delete(self, row: SavedSearch) -> None:
        # The hits go explicitly: SQLite enforces the foreign key's ON DELETE CASCADE only with PRAGMA foreign_keys.
        await self.session.execute(delete(SavedSearchHit).where(col(SavedSearchHit.saved_search_id) == row.id))
        await self.session.delete(row)
        await self.session.flush()

    async def count_of(self, *, user_id: str, org_id: uuid.UUID | None) -> int:
        query = select(func.count()).select_from(SavedSearch).where(*_owned(user_id, org_id))
        return int((await self.session.execute(query)).scalar_one())

    async def get_owned(
        self, search_id: uuid.UUID, *, user_id: str, org_id: uuid.UUID | None, for_update: bool = False
    ) -> SavedSearch | None:
        query = select(SavedSearch).where(col(SavedSearch.id) == search_id, *_owned(user_id, org_id))
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def page(
        self, *, user_id: str, org_id: uuid.UUID | None, before: uuid.UUID | None, limit: int
    ) -> list[SavedSearch]:
        """Newest first (UUIDv7 ids), keyset-paginated."""
        conditions = list(_owned(user_id, org_id))
        if before is not None:
            conditions.append(col(SavedSearch.id) < before)
        query = select(SavedSearch).where(*conditions).order_by(col(SavedSearch.id).desc()).limit(limit)
        return list((await self.session.execute(query)).scalars())

    async def active_page(
        self, *, kind: str, not_org_id: uuid.UUID, after: uuid.UUID | None, limit: int
    ) -> list[SavedSearch]:
        """Active searches of ``kind`` not of the organization ``not_org_id``, in id order after ``after``."""
        conditions = [
            col(SavedSearch.kind) == kind,
            col(SavedSearch.active).is_(True),
            # A search saved without an organization is nobody's listing's own: it stays in.
            (col(SavedSearch.owner_org_id) != not_org_id) | col(SavedSearch.owner_org_id).is_(None),
        ]
        if after is not None:
            conditions.append(col(SavedSearch.id) > after)
        query = select(SavedSearch).where(*conditions).order_by(col(SavedSearch.id)).limit(limit)
        return list((await self.session.execute(query)).scalars())

    async def count_alerts(self, counts: dict[uuid.UUID, int], now: dt.datetime) -> None:
        """Add ``counts[id]`` alerts to each search and set its last alert time."""
        for search_id, count in counts.items():
            await self.session.execute(
                update(SavedSearch)
                .where(col(SavedSearch.id) == search_id)
                .values(alerts_sent=col(SavedSearch.alerts_sent) + count, last_alert_at=now)
                .execution_options(synchronize_session=False)
            )

    # -- the alert jobs ----------------------------------------------------------------------------------------------

    async def add_job(self, row: MatchAlertJob, *, flush: bool) -> None:
        self.session.add(row)
        if flush:
            await self.session.flush()

    async def cancel_jobs(self, listing_id: uuid.UUID, now: dt.datetime) -> None:
        """Pending jobs of a listing that left search are done: it no longer alerts anybody."""
        await self.session.execute(
            update(MatchAlertJob)
            .where(col(MatchAlertJob.listing_id) == listing_id, col(MatchAlertJob.done_at).is_(None))
            .values(done_at=now, last_error="the listing left search before its alert ran")
            .execution_options(synchronize_session=False)
        )

    async def claim_job(self, now: dt.datetime) -> MatchAlertJob | None:
        """The oldest due pending job, locked for this transaction.

        PostgreSQL: FOR UPDATE SKIP LOCKED, so concurrent workers each take another job and a job is never run by
        two at once. SQLite has one writer at a time and no row locks (the clause is not emitted there); the hits'
        unique key still keeps a listing from alerting a search twice.
        """
        query = (
            select(MatchAlertJob)
            .where(col(MatchAlertJob.done_at).is_(None), col(MatchAlertJob.next_attempt_at) <= now)
            .order_by(col(MatchAlertJob.next_attempt_at), col(MatchAlertJob.id))
            .limit(1)
        )
        if self.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def newer_job_exists(self, job: MatchAlertJob) -> bool:
        """Whether a later job of the same listing exists (it carries the newer document: this one is stale)."""
        query = select(col(MatchAlertJob.id)).where(
            col(MatchAlertJob.listing_id) == job.listing_id,
            col(MatchAlertJob.listing_version) > job.listing_version,
        )
        return (await self.session.execute(query.limit(1))).first() is not None

    # -- the hits ----------------------------------------------------------------------------------------------------

    async def insert_hits(self, rows: Sequence[dict[str, Any]]) -> set[uuid.UUID]:
        """Insert the hits not recorded yet; returns the saved search ids whose hit is new (insert-if-absent on
        (saved_search_id, listing_id): a concurrent or repeated run gets nothing back for the same pair)."""
        if not rows:
            return set()
        statement = (
            self._insert(SavedSearchHit)
            .values(list(rows))
            .on_conflict_do_nothing(index_elements=["saved_search_id", "listing_id"])
            .returning(col(SavedSearchHit.saved_search_id))
        )
        return set((await self.session.execute(statement)).scalars())

    async def mark_notified(self, hit_filter: Any, now: dt.datetime) -> None:
        await self.session.execute(
            update(SavedSearchHit)
            .where(hit_filter)
            .values(notified_at=now)
            .execution_options(synchronize_session=False)
        )

    async def mark_hits_sent(self, hit_ids: Sequence[uuid.UUID], now: dt.datetime) -> None:
        if hit_ids:
            await self.mark_notified(col(SavedSearchHit.id).in_(list(hit_ids)), now)

    async def mark_hits_notified(
        self, *, listing_id: uuid.UUID, search_ids: Sequence[uuid.UUID], now: dt.datetime
    ) -> None:
        if search_ids:
            await self.mark_notified(
                and_(col(SavedSearchHit.listing_id) == listing_id, col(SavedSearchHit.saved_search_id).in_(search_ids)),
                now,
            )

    async def searches_with_unsent_hits(self, *, before: dt.datetime, limit: int) -> list[SavedSearch]:
        """Daily searches with hits recorded before ``before`` and not sent yet, locked (one digest each)."""
        pending = select(col(SavedSearchHit.saved_search_id)).where(
            col(SavedSearchHit.notified_at).is_(None), col(SavedSearchHit.created_at) < before
        )
        query = (
            select(SavedSearch)
            .where(
                col(SavedSearch.frequency) == "daily",
                col(SavedSearch.active).is_(True),
                col(SavedSearch.id).in_(pending),
            )
            .order_by(col(SavedSearch.id))
            .limit(limit)
        )
        if self.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return list((await self.session.execute(query)).scalars())

    async def unsent_hits(self, search_id: uuid.UUID, *, before: dt.datetime) -> list[SavedSearchHit]:
        query = (
            select(SavedSearchHit)
            .where(
                col(SavedSearchHit.saved_search_id) == search_id,
                col(SavedSearchHit.notified_at).is_(None),
                col(SavedSearchHit.created_at) < before,
            )
            .order_by(col(SavedSearchHit.id))
        )
        return list((await self.session.execute(query)).scalars())


def _owned(user_id: str, org_id: uuid.UUID | None) -> list[Any]:
    owner_org = col(SavedSearch.owner_org_id)
    return [col(SavedSearch.owner_user_id) == user_id, owner_org.is_(None) if org_id is None else owner_org == org_id]
