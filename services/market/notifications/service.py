"""Record notifications (called by the domains) and serve the caller's inbox (see the package docstring)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.market.notifications.models import Notification
from services.market.notifications.repository import NotificationRepository, Reader
from services.market.notifications.schemas import NotificationPublic, ReadAllOut, UnreadCount
from shared.clock import utcnow
from shared.errors import NotFound
from shared.pagination import Page, cursor_id, encode_cursor
from shared.security import Principal

__all__ = ["OrgAddress", "list_notifications", "mark_all_read", "mark_read", "notify", "unread_count"]

OrgAddress = tuple[uuid.UUID, str | None]
"""(organization id, role): role None addresses every member acting for the organization."""


async def notify(
    session: AsyncSession,
    *,
    type: str,
    title: str,
    subject_type: str,
    subject_id: uuid.UUID,
    data: Mapping[str, Any] | None = None,
    users: Iterable[str | None] = (),
    orgs: Iterable[OrgAddress | tuple[uuid.UUID | None, str | None]] = (),
    inbox: bool = True,
    webhook_orgs: Iterable[uuid.UUID] = (),
) -> list[Notification]:
    """One row per distinct recipient, in the caller's transaction (flush only: the request commits it with the
    event, so a failed event stores none). ``None`` entries are skipped (an optional broker, an unknown user).

    ``inbox=False`` records no inbox row at all (the event is for webhooks only, e.g. a saved search whose channel
    is webhook); ``webhook_orgs`` are the organizations whose webhooks receive this event (their subscribed event
    types permitting) — the webhooks domain fans it out here, in the same transaction."""
    if not inbox:
        users, orgs = (), ()
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
    for org_id, role in dict.fromkeys(o for o in orgs if o[0] is not None):
        rows.append(Notification(recipient_org_id=org_id, recipient_role=role, data=payload, **common))
    if rows:
        await NotificationRepository(session).add_all(rows)
    return rows


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
    session: AsyncSession, *, principal: Principal, unread: bool, limit: int, cursor: str | None
) -> Page[NotificationPublic]:
    """The caller's notifications, newest first, keyset-paginated on the id."""
    before = cursor_id(cursor)
    rows = await NotificationRepository(session).page(
        _reader(principal), unread_only=unread, before=before, limit=limit + 1
    )
    next_cursor = encode_cursor(str(rows[limit - 1][0].id)) if len(rows) > limit else None
    return Page[NotificationPublic](items=[_public(row, mark) for row, mark in rows[:limit]], next_cursor=next_cursor)


async def mark_read(session: AsyncSession, *, principal: Principal, notification_id: uuid.UUID) -> NotificationPublic:
    """Idempotent; 404 for a notification the caller does not see."""
    reader = _reader(principal)
    repository = NotificationRepository(session)
    row = await repository.get_visible(reader, notification_id)
    if row is None:
        raise NotFound(f"No notification {notification_id}.")
    read_at = await repository.mark_read(reader, row, utcnow())
    return _public(row, read_at)


async def mark_all_read(session: AsyncSession, *, principal: Principal) -> ReadAllOut:
    return ReadAllOut(read=await NotificationRepository(session).mark_all_read(_reader(principal), utcnow()))


async def unread_count(session: AsyncSession, *, principal: Principal) -> UnreadCount:
    return UnreadCount(unread=await NotificationRepository(session).unread_count(_reader(principal)))
