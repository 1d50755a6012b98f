"""Wake-ups after commit: one ``Broadcaster`` interface, an in-process and a PostgreSQL LISTEN/NOTIFY implementation.

A wake-up carries only *keys* (e.g. ``user:<sub>``, ``org:<uuid>``), never content: a subscriber that hears one of
its keys re-reads the database with its own visibility rule. So a lost or spurious wake-up costs latency, never
correctness, and nothing private travels through the channel.

Both implementations publish only what commits:

- ``InProcessBroadcaster`` (embedded default, SQLite): keys are collected on the session and dispatched from its
  ``after_commit`` event; a rollback drops them. Subscribers in this process only.
- ``PostgresBroadcaster`` (production): ``pg_notify`` runs inside the publishing transaction, and PostgreSQL delivers
  notifications only at commit. Every replica keeps one dedicated asyncpg connection listening on the channel and
  reconnects with backoff if it drops (waking every subscriber then, since notifications may have been missed).

``open_broadcaster(url)`` chooses from the database URL; the lifespan opens it and ``attach`` puts it on the
sessionmaker's sessions (``session.info``), where ``broadcaster_of(session)`` finds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any, Protocol

import asyncpg
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from shared.db import is_sqlite, pooler_of, without_pooler

__all__ = [
    "Broadcaster",
    "InProcessBroadcaster",
    "PostgresBroadcaster",
    "Subscription",
    "attach",
    "broadcaster_of",
    "open_broadcaster",
]

logger = logging.getLogger("techmarket.broadcast")

_INFO_KEY = "techmarket_broadcaster"
_PENDING_KEY = "techmarket_broadcast_pending"
_HOOKED_KEY = "techmarket_broadcast_hooked"
# pg_notify payloads must stay under 8000 bytes; keys are sent in chunks well below that.
_PAYLOAD_LIMIT = 7000


class Subscription:
    """What one subscriber heard: the union of its keys published since it last asked, coalesced."""

    def __init__(self, keys: Iterable[str]) -> None:
        self.keys = frozenset(keys)
        self._heard: set[str] = set()
        self._event = asyncio.Event()

    def _deliver(self, keys: Iterable[str] | None) -> None:
        """``None`` wakes the subscriber whatever its keys (after a listener reconnect)."""
        matched = self.keys if keys is None else self.keys.intersection(keys)
        if matched:
            self._heard.update(matched)
            self._event.set()

    async def wait(self, within: float) -> frozenset[str]:
        """The keys heard, as soon as there is one, or an empty set after ``within`` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout=within)
        heard, self._heard = frozenset(self._heard), set()
        self._event.clear()
        return heard


class Broadcaster(Protocol):
    """Publish wake-ups with a transaction; subscribe to the keys one listener cares about."""

    async def publish(self, session: AsyncSession, keys: Iterable[str]) -> None:
        """Deliver ``keys`` to subscribers once (and only if) ``session``'s transaction commits."""
        ...

    def subscribe(self, keys: Iterable[str]) -> contextlib.AbstractAsyncContextManager[Subscription]:
        """Listen for ``keys`` while the context is open."""
        ...


class _Fanout:
    """The subscribers of this process."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()

    def deliver(self, keys: Iterable[str] | None) -> None:
        wanted = None if keys is None else frozenset(keys)
        for subscription in list(self._subscriptions):
            subscription._deliver(wanted)

    @contextlib.asynccontextmanager
    async def subscribe(self, keys: Iterable[str]) -> AsyncIterator[Subscription]:
        subscription = Subscription(keys)
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)

    def __len__(self) -> int:
        return len(self._subscriptions)


class InProcessBroadcaster:
    """Subscribers in this process only, woken from the publishing session's ``after_commit``."""

    def __init__(self) -> None:
        self._fanout = _Fanout()

    async def publish(self, session: AsyncSession, keys: Iterable[str]) -> None:
        sync = session.sync_session
        if not sync.info.get(_HOOKED_KEY):
            sync.info[_HOOKED_KEY] = True
            fanout = self._fanout

            # Registered once per session (sessions are short-lived). after_commit also fires when a savepoint is
            # released, and after_rollback when one is rolled back: only the outermost transaction decides.
            # after_commit runs on the event loop's thread (inside SQLAlchemy's greenlet), so delivering is safe.
            def committed(s: Session) -> None:
                if not s.in_nested_transaction():
                    fanout.deliver(s.info.pop(_PENDING_KEY, ()))

            def rolled_back(s: Session) -> None:
                if not s.in_nested_transaction():
                    s.info.pop(_PENDING_KEY, None)

            event.listen(sync, "after_commit", committed)
            event.listen(sync, "after_rollback", rolled_back)
        pending: set[str] = sync.info.setdefault(_PENDING_KEY, set())
        pending.update(keys)

    def subscribe(self, keys: Iterable[str]) -> contextlib.AbstractAsyncContextManager[Subscription]:
        return self._fanout.subscribe(keys)

    @property
    def subscribers(self) -> int:
        return len(self._fanout)


class PostgresBroadcaster:
    """``pg_notify`` in the publishing transaction; one listening asyncpg connection per process (per replica)."""

    def __init__(
        self,
        dsn: str,
        *,
        channel: str,
        backoff_initial: float = 0.2,
        backoff_max: float = 10.0,
        check_interval: float = 30.0,
        check_timeout: float = 5.0,
    ) -> None:
        self.dsn = dsn
        self.channel = channel
        # How often an idle listening connection is checked with a query, and how long the check may take.
        self.check_interval = check_interval
        self.check_timeout = check_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._fanout = _Fanout()
        self._listening = asyncio.Event()
        self._connection: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None

    async def publish(self, session: AsyncSession, keys: Iterable[str]) -> None:
        chunk: list[str] = []
        size = 0
        for key in sorted(set(keys)):
            if chunk and size + len(key) + 4 > _PAYLOAD_LIMIT:
                await self._notify(session, chunk)
                chunk, size = [], 0
            chunk.append(key)
            size += len(key) + 4
        if chunk:
            await self._notify(session, chunk)

    async def _notify(self, session: AsyncSession, keys: list[str]) -> None:
        # Transactional: PostgreSQL queues it and delivers it to every listener only when this transaction commits.
        await session.execute(
            text("SELECT pg_notify(:channel, :payload)"), {"channel": self.channel, "payload": json.dumps(keys)}
        )

    def subscribe(self, keys: Iterable[str]) -> contextlib.AbstractAsyncContextManager[Subscription]:
        return self._fanout.subscribe(keys)

    @property
    def subscribers(self) -> int:
        return len(self._fanout)

    async def wait_listening(self) -> None:
        """Wait until the listening connection is up (tests; wrap in ``asyncio.timeout``)."""
        await self._listening.wait()

    def _on_notification(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            keys = json.loads(payload)
        except ValueError:
            logger.warning("ignoring a malformed wake-up on %s", self.channel)
            return
        if isinstance(keys, list):
            self._fanout.deliver(str(k) for k in keys)

    async def _listen_once(self) -> None:
        connection: asyncpg.Connection = await asyncpg.connect(self.dsn)
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _c: lost.set())
        try:
            await connection.add_listener(self.channel, self._on_notification)
            self._connection = connection
            self._listening.set()
            while not lost.is_set():
                # A peer that vanished without closing the socket (a partition) is noticed only by using it.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), timeout=self.check_interval)
                if not lost.is_set():
                    await asyncio.wait_for(connection.fetchval("SELECT 1"), timeout=self.check_timeout)
        finally:
            self._listening.clear()
            self._connection = None
            if not connection.is_closed():
                try:
                    await connection.close(timeout=2)
                except Exception:  # a broken connection cannot close politely
                    connection.terminate()

    async def _run(self) -> None:
        delay = self.backoff_initial
        first = True
        while True:
            try:
                if not first:
                    # Whatever was published while we were away is lost: every subscriber re-reads.
                    self._fanout.deliver(None)
                first = False
                await self._listen_once()
                delay = self.backoff_initial  # it was up: start the backoff afresh
                logger.warning("LISTEN connection on %s lost; reconnecting", self.channel)
            except Exception as exc:  # whatever broke the connection, the listener must come back
                logger.warning("LISTEN on %s failed (%s); retrying in %.1fs", self.channel, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_max)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"listen:{self.channel}")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def drop_connection(self) -> None:
        """Close the listening connection as a network failure would (tests of the reconnect)."""
        if self._connection is not None:
            self._connection.terminate()


def asyncpg_dsn(url: str) -> str:
    """The plain libpq DSN of a SQLAlchemy ``postgresql+asyncpg://`` URL."""
    return make_url(without_pooler(url)).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.asynccontextmanager
async def open_broadcaster(url: str, *, channel: str) -> AsyncIterator[InProcessBroadcaster | PostgresBroadcaster]:
    """The broadcaster the database at ``url`` calls for: LISTEN/NOTIFY on PostgreSQL, in-process otherwise."""
    if is_sqlite(url):
        yield InProcessBroadcaster()
        return
    if pooler_of(url) is not None:
        # PgBouncer in transaction mode hands this session's server connection to other clients between
        # statements: a LISTEN there would be lost, or would deliver to someone else.
        raise ValueError("LISTEN needs a direct PostgreSQL URL, not one through a transaction pooler")
    broadcaster = PostgresBroadcaster(asyncpg_dsn(url), channel=channel)
    await broadcaster.start()
    try:
        yield broadcaster
    finally:
        await broadcaster.aclose()


def attach(sessionmaker: async_sessionmaker[AsyncSession], broadcaster: Broadcaster) -> None:
    """Sessions made by ``sessionmaker`` from now on carry ``broadcaster`` (see ``broadcaster_of``)."""
    info = dict(sessionmaker.kw.get("info") or {})
    info[_INFO_KEY] = broadcaster
    sessionmaker.configure(info=info)


def detach(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Undo ``attach`` (the broadcaster is closing)."""
    info = dict(sessionmaker.kw.get("info") or {})
    info.pop(_INFO_KEY, None)
    sessionmaker.configure(info=info)


def broadcaster_of(session: AsyncSession) -> Broadcaster | None:
    """The broadcaster attached to ``session``'s sessionmaker, if any."""
    found: Broadcaster | None = session.info.get(_INFO_KEY)
    return found
