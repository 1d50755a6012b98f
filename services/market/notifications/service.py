"""Record notifications (called by the domains) and serve the caller's inbox (see the package docstring)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.market.notifications.models import Notification
from services.market.notifications.repository import NotificationRepository, Reader
from services.market.notifications.schemas import NotificationPublic, ReadAllPublic, UnreadCount
from services.market.webhooks import service as webhooks_service
from shared.broadcast import Broadcaster, broadcaster_of
from shared.clock import utcnow
from shared.errors import NotFound, ValidationFailed
from shared.ids import id_floor
from shared.pagination import Page, cursor_after, cursor_id
from shared.security import Principal

__all__ = [
    "Notice",
    "OrgAddress",
    "list_notifications",
    "mark_all_read",
    "mark_read",
    "notify",
    "notify_once",
    "purge_markers",
    "recipient_keys",
    "stream_after",
    "stream_origin",
    "unread_count",
]

# How long a notify_once marker is kept. The expiring-soon jobs record one at most 7 days before the expiry it is
# about; a month later that expiry is long past, so the marker can no longer stop a notice that is due.
MARKER_RETENTION = dt.timedelta(days=30)

OrgAddress = tuple[uuid.UUID, str | None]
"""(organization id, role): role None addresses every member acting for the organization."""


async def notify(
    *,
    session: AsyncSession,
    type: str,
    title: str,
    subject_type: str,
    subject_id: uuid.UUID,
    data: Mapping[str, Any] | None = None,
    users: Iterable[str | None] = (),
    orgs: Iterable[OrgAddress | tuple[uuid.UUID | None, str | None]] = (),
    broadcaster: Broadcaster | None = None,
    inbox: bool = True,
    webhook_orgs: Iterable[uuid.UUID] = (),
) -> list[Notification]:
    """One row per distinct recipient, in the caller's transaction (flush only: the request commits it with the
    event, so a failed event stores none). ``None`` entries are skipped (an optional broker, an unknown user).

    Live streams of the recipients are woken when (and only if) the transaction commits, through ``broadcaster``
    or else the one attached to the session (shared.broadcast); without either they still see the rows at their
    next poll.

    The webhooks of the addressed organizations and of ``webhook_orgs`` get the event too (one delivery per
    subscribed endpoint, same transaction); ``inbox=False`` sends it to webhooks only."""
    now = utcnow()
    payload = dict(data) if data is not None else None
    rows: list[Notification] = []
    common: dict[str, Any] = {
        "type": type,
        "title": title,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "created_at": now,
    }
    for user in dict.fromkeys(u for u in users if u):
        rows.append(Notification(recipient_user_id=user, data=payload, **common))
    addressed = list(dict.fromkeys(o for o in orgs if o[0] is not None))
    for org_id, role in addressed:
        rows.append(Notification(recipient_org_id=org_id, recipient_role=role, data=payload, **common))
    if not inbox:
        rows = []
    elif rows:
        await NotificationRepository(session).add_all(rows)
        waker = broadcaster or broadcaster_of(session)
        if waker is not None:
            await waker.publish(session, _keys_of(rows))
    webhook_targets = {org_id for org_id, _ in addressed if org_id is not None} | set(webhook_orgs)
    if webhook_targets:
        event = {"subject_type": subject_type, "subject_id": str(subject_id), "title": title, **(payload or {})}
        await webhooks_service.enqueue(session=session, org_ids=webhook_targets, event_type=type, data=event)
    return rows


def _user_key(user_id: str) -> str:
    return f"user:{user_id}"


def _org_key(org_id: uuid.UUID) -> str:
    return f"org:{org_id}"


def _keys_of(rows: Iterable[Notification]) -> set[str]:
    # The wake-up names recipients only (never content); org-addressed rows wake every member's stream, which then
    # applies the role rule when it reads.
    keys: set[str] = set()
    for row in rows:
        if row.recipient_user_id is not None:
            keys.add(_user_key(row.recipient_user_id))
        if row.recipient_org_id is not None:
            keys.add(_org_key(row.recipient_org_id))
    return keys


def recipient_keys(principal: Principal) -> frozenset[str]:
    """The wake-up keys a caller's stream listens for: their user, and the organization they act for."""
    keys = {_user_key(principal.subject)}
    if principal.org_id is not None:
        keys.add(_org_key(principal.org_id))
    return frozenset(keys)


@dataclass(frozen=True, slots=True)
class Notice:
    """The arguments of :func:`notify` for one subject, and the occasion that makes it due (see notify_once)."""

    occasion: str
    title: str
    subject_type: str
    subject_id: uuid.UUID
    data: Mapping[str, Any] | None = None
    users: Sequence[str | None] = ()
    orgs: Sequence[OrgAddress | tuple[uuid.UUID | None, str | None]] = field(default_factory=tuple)


async def notify_once(
    *, session: AsyncSession, type: str, notices: Sequence[Notice], now: dt.datetime | None = None
) -> int:
    """Record each notice unless one of this ``type`` was recorded for its subject and occasion before; returns how
    many were recorded now.

    For notices due at most once per occasion (a proposal's expiry instant): the (type, subject, occasion) marker is
    inserted if absent in the caller's transaction, so two processes running the same job never both notify, and
    a rolled-back run leaves no marker (the next run notifies). Flush only, like :func:`notify`.
    """
    claimed = await NotificationRepository(session).claim_markers(
        type=type, occasions=[(n.subject_id, n.occasion) for n in notices], now=now or utcnow()
    )
    recorded = 0
    for notice in notices:
        key = (notice.subject_id, notice.occasion)
        if key not in claimed:
            continue
        claimed.discard(key)  # a subject listed twice is still told once
        await notify(
            session=session,
            type=type,
            title=notice.title,
            subject_type=notice.subject_type,
            subject_id=notice.subject_id,
            data=notice.data,
            users=notice.users,
            orgs=notice.orgs,
        )
        recorded += 1
    return recorded


async def purge_markers(*, session: AsyncSession, now: dt.datetime | None = None) -> int:
    """Delete the notify_once markers older than MARKER_RETENTION; returns how many (maintenance job)."""
    return await NotificationRepository(session).purge_markers(created_before=(now or utcnow()) - MARKER_RETENTION)


def _reader(principal: Principal) -> Reader:
    return Reader(user_id=principal.subject, org_id=principal.org_id, roles=principal.roles)


def _public(row: Notification, read_at: Any) -> NotificationPublic:
    personal = row.recipient_user_id is not None
    return NotificationPublic(
        id=row.id,
        type=row.type,
        subject_type=row.subject_type,
        subject_id=row.subject_id,
        title=row.title,
        data=row.data,
        addressed_to="user" if personal else "organization",
        created_at=row.created_at,
        read_at=row.read_at if personal else read_at,
    )


async def list_notifications(
    *, session: AsyncSession, principal: Principal, unread: bool, limit: int, cursor: str | None
) -> Page[NotificationPublic]:
    """The caller's notifications, newest first, keyset-paginated on the id."""
    before = cursor_id(cursor)
    rows = await NotificationRepository(session).page(
        _reader(principal), unread_only=unread, before=before, limit=limit + 1
    )
    next_cursor = cursor_after(rows, limit, id_of=lambda row: row[0].id)
    return Page[NotificationPublic](items=[_public(row, mark) for row, mark in rows[:limit]], next_cursor=next_cursor)


async def mark_read(*, session: AsyncSession, principal: Principal, notification_id: uuid.UUID) -> NotificationPublic:
    """Idempotent; 404 for a notification the caller does not see."""
    reader = _reader(principal)
    repository = NotificationRepository(session)
    row = await repository.get_visible(reader, notification_id)
    if row is None:
        raise NotFound(f"No notification {notification_id}.")
    read_at = await repository.mark_read(reader, row, utcnow())
    return _public(row, read_at)


async def mark_all_read(*, session: AsyncSession, principal: Principal) -> ReadAllPublic:
    return ReadAllPublic(read=await NotificationRepository(session).mark_all_read(_reader(principal), utcnow()))


async def unread_count(*, session: AsyncSession, principal: Principal) -> UnreadCount:
    return UnreadCount(unread=await NotificationRepository(session).unread_count(_reader(principal)))


async def stream_origin(
    *, session: AsyncSession, principal: Principal, last_event_id: str | None, field: str
) -> uuid.UUID:
    """Where a stream starts: after ``last_event_id`` (a notification the caller sees; 422 on ``field`` otherwise),
    or, without one, now (nothing old is replayed)."""
    if last_event_id is None or not last_event_id.strip():
        return id_floor(utcnow())  # an empty id is no id (an event source whose last `id:` was empty)
    try:
        notification_id = uuid.UUID(last_event_id.strip())
    except ValueError:
        raise ValidationFailed.field(field, "not a notification id (UUID)", type="uuid_parsing") from None
    if await NotificationRepository(session).get_visible(_reader(principal), notification_id) is None:
        raise ValidationFailed.field(field, "no notification of yours has this id", type="not_found")
    return notification_id


async def stream_after(
    *, session: AsyncSession, principal: Principal, floor: uuid.UUID, skip: Collection[uuid.UUID], limit: int
) -> list[NotificationPublic]:
    """The caller's notifications with an id above ``floor`` except ``skip``, oldest first."""
    rows = await NotificationRepository(session).after(_reader(principal), floor=floor, skip=skip, limit=limit)
    return [_public(row, mark) for row, mark in rows]
