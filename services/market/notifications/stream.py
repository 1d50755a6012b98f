"""The live inbox: Server-Sent Events of the caller's new notifications (GET /market/notifications/stream).

How a notification reaches an open stream: ``notify`` publishes a wake-up naming its recipients through the
broadcaster (shared.broadcast) when its transaction commits; each stream listening for one of those keys re-reads
the inbox with the caller's visibility rule, keyset after what it already sent, and writes the new rows as events.
It also re-reads every ``notifications_stream_poll_seconds`` without a wake-up (a lost wake-up only delays).

Ids are taken at insert but rows become visible at commit, so a transaction that commits after a newer one can
surface a row *below* the stream's cursor: each read therefore looks back ``notifications_stream_lookback_seconds``
below the cursor and skips the ids it already sent.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from services.market.notifications import service
from services.market.notifications.schemas import NotificationPublic
from services.market.settings import MarketSettings
from shared.broadcast import Broadcaster
from shared.clock import utcnow
from shared.errors import ServiceUnavailable
from shared.ids import id_floor
from shared.security import Principal

__all__ = ["EVENT_STREAM", "EventStreamResponse", "StreamSlots", "notification_events", "stream_deadline"]

EVENT_STREAM = "text/event-stream"
# Rows read per query; a burst larger than this is sent in several reads of one wake-up.
_BATCH = 100


class StreamSlots:
    """Counts the open streams of this process against ``notifications_stream_max_per_process``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0

    def take(self) -> Callable[[], None]:
        """Reserve one stream (503 with Retry-After when full); returns its release, safe to call twice."""
        if self.open >= self.limit:
            raise ServiceUnavailable(
                f"This server already serves {self.limit} live streams; retry shortly (or another replica).",
                slug="too-many-streams",
                title="Too many live streams",
                headers={"Retry-After": "5"},
            )
        self.open += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.open -= 1

        return release


class EventStreamResponse(StreamingResponse):
    """A ``text/event-stream`` response that stops as soon as the client disconnects and then runs ``on_close``.

    Starlette listens for the disconnect while streaming; the generator is cancelled at its current await (an idle
    stream waits for a wake-up, so it would otherwise notice only at its next write) and closed here, so its
    subscription and slot are released at once.
    """

    media_type = EVENT_STREAM

    def __init__(self, content: AsyncIterator[str], *, on_close: Callable[[], None]) -> None:
        # no-cache: intermediaries must not store it; X-Accel-Buffering: nginx must not buffer it.
        super().__init__(content, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self._generator = content
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            try:
                aclose = getattr(self._generator, "aclose", None)
                if aclose is not None:
                    await aclose()
            finally:
                self._on_close()


def _event(item: NotificationPublic) -> str:
    # The JSON is one line (no raw newlines), so one `data:` line carries it.
    return f"id: {item.id}\nevent: notification\ndata: {item.model_dump_json()}\n\n"


async def notification_events(
    *,
    open_session: Callable[[], contextlib.AbstractAsyncContextManager[AsyncSession]],
    broadcaster: Broadcaster,
    settings: MarketSettings,
    principal: Principal,
    origin: uuid.UUID,
    until: float,
) -> AsyncIterator[str]:
    """The stream's text: a retry hint, then the caller's notifications above ``origin`` as they commit, with a
    keepalive comment when idle, until ``until`` (``time.monotonic()``). ``open_session`` gives a read-only session
    per read: a stream holds no connection while it waits."""
    yield f"retry: {settings.notifications_stream_retry_ms}\n\n"
    lookback = dt.timedelta(seconds=settings.notifications_stream_lookback_seconds)
    heartbeat = settings.notifications_stream_heartbeat_seconds
    cursor = origin  # the highest id sent (or where the stream starts)
    sent: set[uuid.UUID] = set()  # ids sent that are still inside the look-back window
    async with broadcaster.subscribe(service.recipient_keys(principal)) as subscription:
        last_write = time.monotonic()
        while True:
            while True:
                # Recomputed per batch: while a long backlog replays, the cursor passes the look-back window and
                # ``sent`` stays small (the ids inside the window only).
                floor = max(origin, min(cursor, id_floor(utcnow() - lookback)))
                sent = {i for i in sent if i > floor}
                async with open_session() as session:
                    items = await service.stream_after(
                        session=session, principal=principal, floor=floor, skip=sent, limit=_BATCH
                    )
                for item in items:
                    yield _event(item)
                    sent.add(item.id)
                    cursor = max(cursor, item.id)
                if items:
                    last_write = time.monotonic()
                if len(items) < _BATCH:
                    break
            now = time.monotonic()
            if now >= until:
                return
            if now - last_write >= heartbeat:
                yield ": keepalive\n\n"
                last_write = now
            timeout = min(settings.notifications_stream_poll_seconds, heartbeat - (now - last_write), until - now)
            await subscription.wait(max(timeout, 0.0))


def stream_deadline(settings: MarketSettings, principal: Principal) -> float:
    """``time.monotonic()`` at which the stream ends: its maximum length, or its token's expiry if sooner."""
    seconds = settings.notifications_stream_max_seconds
    expires: Any = principal.claims.get("exp")
    if isinstance(expires, int | float):
        seconds = min(seconds, float(expires) - time.time())
    return time.monotonic() + max(seconds, 0.0)
