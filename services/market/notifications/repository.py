"""SQL of the inbox."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, delete, exists, func, insert, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from services.market.notifications.models import Notification, NotificationMarker, NotificationRead

__all__ = ["NotificationRepository", "Reader"]


@dataclass(frozen=True, slots=True)
class Reader:
    """Whose inbox: the user (token ``sub``) and, if acting for one, the organization and roles held in it."""

    user_id: str
    org_id: uuid.UUID | None
    roles: frozenset[str]


def _personal(reader: Reader) -> ColumnElement[bool]:
    return col(Notification.recipient_user_id) == reader.user_id


def _organizational(reader: Reader) -> ColumnElement[bool]:
    if reader.org_id is None:
        return literal(False)
    return and_(
        col(Notification.recipient_org_id) == reader.org_id,
        or_(col(Notification.recipient_role).is_(None), col(Notification.recipient_role).in_(sorted(reader.roles))),
    )


def _read_by(reader: Reader) -> ColumnElement[bool]:
    # An alias, correlated to the outer notifications only: the list query also outer-joins notification_reads.
    mark = aliased(NotificationRead)
    return (
        exists()
        .where(col(mark.notification_id) == col(Notification.id), col(mark.user_id) == reader.user_id)
        .correlate(Notification)
    )


def _unread(reader: Reader) -> ColumnElement[bool]:
    return or_(
        and_(_personal(reader), col(Notification.read_at).is_(None)),
        and_(_organizational(reader), ~_read_by(reader)),
    )


def _visible_with_read_mark(reader: Reader) -> Select[Notification, dt.datetime]:
    """The reader's rows, each with the reader's per-user read mark (null for user-addressed or unread ones)."""
    return (
        select(Notification, col(NotificationRead.read_at))
        .outerjoin(
            NotificationRead,
            and_(
                col(NotificationRead.notification_id) == col(Notification.id),
                col(NotificationRead.user_id) == reader.user_id,
            ),
        )
        .where(or_(_personal(reader), _organizational(reader)))
    )


class NotificationRepository:
    """Reads and writes ``notifications`` and ``notification_reads``."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_all(self, rows: Sequence[Notification]) -> None:
        self.session.add_all(rows)
        await self.session.flush()

    async def claim_markers(
        self, *, type: str, occasions: Sequence[tuple[uuid.UUID, str]], now: dt.datetime
    ) -> set[tuple[uuid.UUID, str]]:
        """Insert the absent (type, subject, occasion) markers; returns the (subject, occasion) pairs inserted here.

        One INSERT … ON CONFLICT DO NOTHING RETURNING (both backends): a marker another transaction holds is not
        returned (on PostgreSQL the insert waits for that transaction: committed, it is a conflict; rolled back,
        the row is ours). Sorted, so two processes claiming overlapping sets take the key locks in one order and
        cannot deadlock.
        """
        if not occasions:
            return set()
        dialect = self.session.get_bind().dialect.name
        statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(NotificationMarker)
        claim = statement.on_conflict_do_nothing().returning(
            col(NotificationMarker.subject_id), col(NotificationMarker.occasion)
        )
        rows = [
            {"type": type, "subject_id": subject_id, "occasion": occasion, "created_at": now}
            for subject_id, occasion in sorted(set(occasions))
        ]
        result = await self.session.execute(claim.values(rows))
        return {(subject_id, occasion) for subject_id, occasion in result.all()}

    async def purge_markers(self, *, created_before: dt.datetime) -> int:
        """Delete the markers recorded before ``created_before``; returns how many."""
        result = await self.session.execute(
            delete(NotificationMarker)
            .where(col(NotificationMarker.created_at) < created_before)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def page(
        self, reader: Reader, *, unread_only: bool, before: uuid.UUID | None, limit: int
    ) -> list[tuple[Notification, dt.datetime | None]]:
        """Newest first; each row with the caller's read time (its own, or the per-user mark)."""
        query = _visible_with_read_mark(reader)
        if unread_only:
            query = query.where(_unread(reader))
        if before is not None:
            query = query.where(col(Notification.id) < before)
        query = query.order_by(col(Notification.id).desc()).limit(limit)
        return [(row, mark) for row, mark in (await self.session.execute(query)).all()]

    async def after(
        self, reader: Reader, *, floor: uuid.UUID, skip: Collection[uuid.UUID], limit: int
    ) -> list[tuple[Notification, dt.datetime | None]]:
        """Oldest first: the visible rows with an id above ``floor`` (keyset of the live stream), but not ``skip``."""
        query = _visible_with_read_mark(reader).where(col(Notification.id) > floor)
        if skip:
            query = query.where(col(Notification.id).not_in(sorted(skip)))
        query = query.order_by(col(Notification.id)).limit(limit)
        return [(row, mark) for row, mark in (await self.session.execute(query)).all()]

    async def get_visible(self, reader: Reader, notification_id: uuid.UUID) -> Notification | None:
        query = select(Notification).where(
            col(Notification.id) == notification_id, or_(_personal(reader), _organizational(reader))
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def read_mark(self, reader: Reader, notification_id: uuid.UUID) -> dt.datetime | None:
        query = select(col(NotificationRead.read_at)).where(
            col(NotificationRead.notification_id) == notification_id, col(NotificationRead.user_id) == reader.user_id
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def mark_read(self, reader: Reader, row: Notification, now: dt.datetime) -> dt.datetime:
        """Idempotent: the first read time stays."""
        if row.recipient_user_id == reader.user_id:
            if row.read_at is None:
                row.read_at = now
                await self.session.flush()
            return row.read_at
        existing = await self.read_mark(reader, row.id)
        if existing is not None:
            return existing
        try:
            async with self.session.begin_nested():
                self.session.add(NotificationRead(notification_id=row.id, user_id=reader.user_id, read_at=now))
        except IntegrityError:
            # A concurrent read of the same user won; keep its time.
            mark = await self.read_mark(reader, row.id)
            assert mark is not None
            return mark
        return now

    async def mark_all_read(self, reader: Reader, now: dt.datetime) -> int:
        personal = await self.session.execute(
            update(Notification)
            .where(_personal(reader), col(Notification.read_at).is_(None))
            .values(read_at=now)
            .execution_options(synchronize_session=False)
        )
        marked = int(getattr(personal, "rowcount", 0) or 0)
        if reader.org_id is not None:
            marked += await self._mark_organizational(reader, now)
        return marked

    async def _mark_organizational(self, reader: Reader, now: dt.datetime) -> int:
        pending = select(col(Notification.id)).where(_organizational(reader), ~_read_by(reader))
        for _ in range(3):
            ids = list((await self.session.execute(pending)).scalars())
            if not ids:
                return 0
            try:
                async with self.session.begin_nested():
                    await self.session.execute(
                        insert(NotificationRead),
                        [{"notification_id": i, "user_id": reader.user_id, "read_at": now} for i in ids],
                    )
            except IntegrityError:
                continue  # a concurrent read of the same user marked one of them: read what is left again
            return len(ids)
        return 0

    async def unread_count(self, reader: Reader) -> int:
        """Two index scans: the partial unread index of the user, and the (org, role) index anti-joined with the
        user's read marks."""
        personal = (
            select(func.count()).select_from(Notification).where(_personal(reader), col(Notification.read_at).is_(None))
        )
        total = int((await self.session.execute(personal)).scalar_one())
        if reader.org_id is not None:
            org = select(func.count()).select_from(Notification).where(_organizational(reader), ~_read_by(reader))
            total += int((await self.session.execute(org)).scalar_one())
        return total
