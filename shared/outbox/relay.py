"""The outbox relay: deliver outbox events at least once, in version order per entity, to one HTTP endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Generic

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.clock import utcnow
from shared.outbox.models import OutboxEventFields
from shared.outbox.repository import E, OutboxRepository
from shared.outbox.settings import RelaySettings
from shared.service_token import ServiceTokenProvider, TokenSource

__all__ = [
    "Jobs",
    "Relay",
    "RelayRound",
    "TokenSource",
    "build_relay",
    "build_token_provider",
    "in_order_prefix",
    "ingestion_document",
    "run_until_signalled",
    "running_in_background",
]

logger = logging.getLogger("techmarket.outbox.relay")

# A process's background loops: given the event that stops them, the coroutines to run (each returns once it is set).
Jobs = Callable[[asyncio.Event], list[Coroutine[Any, Any, None]]]


@dataclass(frozen=True)
class RelayRound:
    """What one round did."""

    claimed: int
    delivered: int
    failed: int
    error: str | None = None


def ingestion_document(event: OutboxEventFields) -> dict[str, Any]:
    """The base document of an event: ``{op, kind, id, version, fields}`` (a delete carries no fields)."""
    return {
        "op": event.op,
        "kind": event.entity_kind,
        "id": str(event.entity_id),
        "version": event.version,
        "fields": event.payload if event.op == "upsert" else {},
    }


def in_order_prefix(claimed: list[E], undelivered: list[tuple[str, uuid.UUID, int]]) -> list[E]:
    """The claimed events that may go now: per entity, those before its first undelivered event not claimed here.

    An earlier unclaimed event is held by another relay or waits for its retry; sending later versions of that
    entity before it would break version order.
    """
    claimed_seqs = {e.seq for e in claimed}
    first_gap: dict[tuple[str, uuid.UUID], int] = {}
    for kind, entity_id, seq in undelivered:
        if seq not in claimed_seqs:
            first_gap.setdefault((kind, entity_id), seq)
    allowed = []
    for event in sorted(claimed, key=lambda e: e.seq or 0):
        gap = first_gap.get((event.entity_kind, event.entity_id))
        if gap is None or (event.seq or 0) < gap:
            allowed.append(event)
    return allowed


class Relay(Generic[E]):
    """Claims due events of ``model``'s outbox, POSTs ``document_of`` each to ``target_url``, marks them delivered
    or schedules a retry."""

    def __init__(
        self,
        *,
        model: type[E],
        document_of: Callable[[E], dict[str, Any]],
        sessionmaker: async_sessionmaker[AsyncSession],
        client: httpx.AsyncClient,
        target_url: str,
        tokens: TokenSource,
        batch_size: int = 100,
        lease_seconds: float = 60.0,
        base_backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 300.0,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.model = model
        self.document_of = document_of
        self.sessionmaker = sessionmaker
        self.client = client
        self.target_url = target_url
        self.tokens = tokens
        self.batch_size = batch_size
        self.lease = dt.timedelta(seconds=lease_seconds)
        self.base_backoff = base_backoff_seconds
        self.max_backoff = max_backoff_seconds
        self.clock = clock

    def backoff(self, attempts: int) -> dt.timedelta:
        """Delay before retry number ``attempts`` (1 = first retry): doubling, capped."""
        seconds = min(self.max_backoff, self.base_backoff * (2 ** max(0, attempts - 1)))
        return dt.timedelta(seconds=seconds)

    async def _claim(self) -> list[E]:
        now = self.clock()
        async with self.sessionmaker() as session, session.begin():
            repository = OutboxRepository(session, self.model)
            claimed = await repository.claim_due(now=now, limit=self.batch_size)
            if not claimed:
                return []
            entities = sorted({(e.entity_kind, e.entity_id) for e in claimed}, key=str)
            undelivered = await repository.undelivered_of(entities=entities, up_to_seq=max(e.seq or 0 for e in claimed))
            batch = in_order_prefix(claimed, undelivered)
            if batch:
                # The lease keeps other relays off these rows while the HTTP call runs outside the transaction.
                await repository.lease([e.seq for e in batch if e.seq is not None], until=now + self.lease)
            return batch

    async def _post(self, documents: list[dict[str, Any]]) -> str | None:
        """POST the documents; None on success, else why it failed."""
        try:
            headers = await self.tokens.headers()
            response = await self.client.post(self.target_url, json={"documents": documents}, headers=headers)
            if response.status_code == 401:
                self.tokens.invalidate()
            if 200 <= response.status_code < 300:
                return None
            return f"HTTP {response.status_code}: {response.text[:500]}"
        except Exception as exc:  # any transport or token failure is retried later; the relay must not die
            return f"{type(exc).__name__}: {exc}"

    async def run_once(self) -> RelayRound:
        """Deliver one batch of due events."""
        batch = await self._claim()
        if not batch:
            return RelayRound(claimed=0, delivered=0, failed=0)
        error = await self._post([self.document_of(e) for e in batch])
        now = self.clock()
        seqs = [e.seq for e in batch if e.seq is not None]
        async with self.sessionmaker() as session, session.begin():
            repository = OutboxRepository(session, self.model)
            if error is None:
                await repository.mark_delivered(seqs, at=now)
            else:
                for event in batch:
                    await repository.mark_failed(event, retry_at=now + self.backoff(event.attempts + 1), error=error)
        if error is None:
            return RelayRound(claimed=len(batch), delivered=len(batch), failed=0)
        logger.warning(
            "outbox delivery failed, will retry",
            extra={"target": self.target_url, "events": len(batch), "error": error},
        )
        return RelayRound(claimed=len(batch), delivered=0, failed=len(batch), error=error)

    async def drain(self, *, max_rounds: int = 1000) -> int:
        """Run rounds until nothing due is left (or a round fails); returns how many events were delivered."""
        delivered = 0
        for _ in range(max_rounds):
            result = await self.run_once()
            delivered += result.delivered
            if result.claimed == 0 or result.failed:
                break
        return delivered

    async def run_forever(self, *, interval: float, stop: asyncio.Event | None = None) -> None:
        """Deliver until ``stop`` is set: back to back while there is work, ``interval`` apart when idle."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                result = await self.run_once()
            except Exception:  # a database hiccup must not end the loop; log and retry after the interval
                logger.exception("outbox relay round failed")
                result = RelayRound(claimed=0, delivered=0, failed=0)
            if result.claimed and not result.failed:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)


def build_token_provider(
    settings: RelaySettings, *, token_url: str | None = None, transport: httpx.AsyncBaseTransport | None = None
) -> ServiceTokenProvider:
    """The relay's client_credentials token provider, against ``token_url`` (default ``{auth_url}/token``)."""
    return ServiceTokenProvider(
        token_url=token_url or settings.auth_url.rstrip("/") + "/token",
        client_id=settings.relay_client_id,
        client_secret=settings.relay_client_secret.get_secret_value(),
        scope=settings.relay_scope,
        transport=transport,
    )


def build_relay(
    settings: RelaySettings,
    *,
    model: type[E],
    document_of: Callable[[E], dict[str, Any]],
    target_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    client: httpx.AsyncClient,
    tokens: TokenSource,
) -> Relay[E]:
    """A relay with the batch, lease and backoff of ``settings``."""
    return Relay(
        model=model,
        document_of=document_of,
        sessionmaker=sessionmaker,
        client=client,
        target_url=target_url,
        tokens=tokens,
        batch_size=settings.relay_batch_size,
        lease_seconds=settings.relay_lease_seconds,
        base_backoff_seconds=settings.relay_base_backoff_seconds,
        max_backoff_seconds=settings.relay_max_backoff_seconds,
    )


async def run_until_signalled(jobs: Jobs) -> None:
    """Run a relay process's loops until SIGTERM/SIGINT: ``jobs(stop)`` makes them, each ending once ``stop`` is set."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await asyncio.gather(*jobs(stop))


@contextlib.asynccontextmanager
async def running_in_background(jobs: Jobs) -> AsyncIterator[None]:
    """Run ``jobs(stop)`` as tasks for the duration of the block (an app's lifespan); stop and await them on exit."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(job) for job in jobs(stop)]
    try:
        yield
    finally:
        stop.set()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
