"""Endpoints of /market/notifications, the caller's inbox (thin: parse, call, shape)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query

from services.market.notifications import service
from services.market.notifications.schemas import NotificationPublic, ReadAllOut, UnreadCount
from shared.db import SessionDep
from shared.errors import problem_responses
from shared.pagination import DEFAULT_LIMIT, Cursor, Limit, Page
from shared.security import CurrentPrincipal

__all__ = ["router"]

router = APIRouter(prefix="/notifications", tags=["notifications"])


@router.get(
    "",
    response_model=Page[NotificationPublic],
    name="list_notifications",
    summary="The caller's notifications",
    description=(
        "Notifications addressed to the caller, and to the caller's organization (or a role the caller holds "
        "in it), newest first, cursor-paginated. `unread=true` lists only the unread ones."
    ),
    responses=problem_responses(401, 422),
)
async def list_notifications(
    session: SessionDep,
    principal: CurrentPrincipal,
    unread: Annotated[bool, Query(description="Only unread notifications.")] = False,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[NotificationPublic]:
    return await service.list_notifications(session, principal=principal, unread=unread, limit=limit, cursor=cursor)


@router.get(
    "/unread-count",
    response_model=UnreadCount,
    name="count_unread_notifications",
    summary="How many of the caller's notifications are unread",
    responses=problem_responses(401),
)
async def count_unread_notifications(session: SessionDep, principal: CurrentPrincipal) -> UnreadCount:
    return await service.unread_count(session, principal=principal)


@router.post(
    "/read-all",
    response_model=ReadAllOut,
    name="read_all_notifications",
    summary="Mark every notification of the caller read",
    responses=problem_responses(401),
)
async def read_all_notifications(session: SessionDep, principal: CurrentPrincipal) -> ReadAllOut:
    return await service.mark_all_read(session, principal=principal)


@router.post(
    "/{notification_id}/read",
    response_model=NotificationPublic,
    name="read_notification",
    summary="Mark one notification read",
    description="Idempotent (the first read time stays). 404 for a notification the caller does not see.",
    responses=problem_responses(401, 404, 422),
)
async def read_notification(
    session: SessionDep,
    principal: CurrentPrincipal,
    notification_id: Annotated[uuid.UUID, Path(description="The notification id (UUIDv7).")],
) -> NotificationPublic:
    return await service.mark_read(session, principal=principal, notification_id=notification_id)
