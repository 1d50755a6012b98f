"""Endpoints of /market/notifications, the caller's inbox (thin: parse, call, shape)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request

from services.market.notifications import service
from services.market.notifications.schemas import NotificationPublic, ReadAllPublic, UnreadCount
from services.market.notifications.stream import (
    EVENT_STREAM,
    EventStreamResponse,
    StreamSlots,
    notification_events,
    stream_deadline,
)
from services.market.settings import MarketSettings
from shared.broadcast import Broadcaster
from shared.db import SessionDep, read_session
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
    return await service.list_notifications(
        session=session, principal=principal, unread=unread, limit=limit, cursor=cursor
    )


@router.get(
    "/unread-count",
    response_model=UnreadCount,
    name="count_unread_notifications",
    summary="How many of the caller's notifications are unread",
    responses=problem_responses(401),
)
async def count_unread_notifications(session: SessionDep, principal: CurrentPrincipal) -> UnreadCount:
    return await service.unread_count(session=session, principal=principal)


@router.post(
    "/read-all",
    response_model=ReadAllPublic,
    name="read_all_notifications",
    summary="Mark every notification of the caller read",
    responses=problem_responses(401),
)
async def read_all_notifications(session: SessionDep, principal: CurrentPrincipal) -> ReadAllPublic:
    return await service.mark_all_read(session=session, principal=principal)


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
    return await service.mark_read(session=session, principal=principal, notification_id=notification_id)


_STREAM_FORMAT = (
    "Server-Sent Events (`text/event-stream`, WHATWG HTML). First a `retry: <ms>` hint. Then one event per new "
    "notification of the caller, oldest first, within a second of its commit: `id: <notification id>`, "
    "`event: notification`, `data: <the notification as JSON, the shape of one item of GET /market/notifications>`. "
    "While idle a comment line `: keepalive` about every 15 s. The stream ends after an hour or when the token "
    "expires; reconnect with `Last-Event-ID` to continue where it stopped."
)


@router.get(
    "/stream",
    name="stream_notifications",
    summary="Live stream of the caller's new notifications (Server-Sent Events)",
    description=(
        "Keeps the connection open and pushes each new notification the caller sees (as in GET "
        "/market/notifications) as an event. Without `Last-Event-ID` only notifications recorded from now on are "
        "sent; with it (the header, or the `last_event_id` query parameter for clients that cannot set headers), "
        "every visible notification after that one is replayed first, oldest first. An id that is not a "
        "notification of the caller is 422 naming it. 503 with Retry-After when this server has too many open "
        "streams."
    ),
    response_class=EventStreamResponse,
    status_code=200,
    responses={
        200: {
            "description": _STREAM_FORMAT,
            "content": {EVENT_STREAM: {"schema": {"type": "string", "description": _STREAM_FORMAT}}},
        },
        **problem_responses(401, 422, 503),
    },
)
async def stream_notifications(
    request: Request,
    principal: CurrentPrincipal,
    last_event_id_header: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            description="Resume after this notification id (EventSource sends it on reconnect).",
        ),
    ] = None,
    last_event_id: Annotated[
        str | None,
        Query(description="Resume after this notification id, for clients that cannot set the Last-Event-ID header."),
    ] = None,
) -> EventStreamResponse:
    settings: MarketSettings = request.app.state.settings
    broadcaster: Broadcaster = request.app.state.broadcaster
    # The header (what EventSource sends on reconnect) wins; a blank one counts as absent.
    resume: str | None
    if last_event_id_header is not None and last_event_id_header.strip():
        resume, field = last_event_id_header, "Last-Event-ID"
    else:
        resume, field = last_event_id, "last_event_id"
    async with read_session(request) as session:
        origin = await service.stream_origin(session=session, principal=principal, last_event_id=resume, field=field)
    slots: StreamSlots = request.app.state.notification_streams
    release = slots.take()
    events = notification_events(
        open_session=lambda: read_session(request),
        broadcaster=broadcaster,
        settings=settings,
        principal=principal,
        origin=origin,
        until=stream_deadline(settings, principal),
    )
    return EventStreamResponse(events, on_close=release)
