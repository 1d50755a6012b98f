"""Background work of the market app: the outbox relay, the statistics fold and the maintenance loop.

Started by the app's lifespan (ServiceSpec.extra_lifespan) when ``MarketSettings.relay_runs_in_app``; production
runs the relay as its own process instead (``techmarket market relay`` / SERVICE=relay, see services.market.cli).
Either way ``app.state.relay`` holds the relay, so tests can drive it by hand.

Other domains add periodic jobs with ``register_maintenance(name, job)``: ``job(session) -> int`` runs in its own
transaction every ``maintenance_interval_seconds`` and returns how many rows it touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.market.idempotency import purge_expired
from services.market.listings import service as listings_service
from services.market.listings.kinds import ACHIEVEMENT, DEMAND
from services.market.matching.client import open_search_client
from services.market.notifications import service as notifications_service
from services.market.outbox.models import OutboxEvent
from services.market.proposals import service as proposals_service
from services.market.settings import MarketSettings
from services.market.stats import service as stats_service
from shared.outbox import relay as outbox_relay
from shared.outbox.relay import Jobs, Relay, TokenSource, ingestion_document, running_in_background
from shared.service_token import ServiceTokenProvider

__all__ = [
    "build_relay",
    "build_token_provider",
    "fold_all",
    "fold_forever",
    "market_lifespan",
    "register_maintenance",
    "run_maintenance",
]

logger = logging.getLogger("techmarket.market.worker")

MaintenanceJob = Callable[[AsyncSession], Awaitable[int]]
_jobs: dict[str, MaintenanceJob] = {
    "idempotency_keys_purged": lambda session: purge_expired(session),
    # Expiring-soon notices (issue 14), each once per subject and expiry (markers in notification_markers): they
    # reach people within one maintenance interval of entering the window.
    "proposals_expiring_notified": lambda session: proposals_service.notify_expiring(session),
    "achievements_expiring_notified": lambda session: listings_service.notify_expiring(session, kind=ACHIEVEMENT),
    "demands_expiring_notified": lambda session: listings_service.notify_expiring(session, kind=DEMAND),
    "notification_markers_purged": lambda session: notifications_service.purge_markers(session),
}


def register_maintenance(name: str, job: MaintenanceJob) -> None:
    """Add a periodic job (idempotent by name)."""
    _jobs[name] = job


async def run_maintenance(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """Run every maintenance job once, each in its own transaction; returns rows touched per job."""
    done: dict[str, int] = {}
    for name, job in list(_jobs.items()):
        try:
            async with sessionmaker() as session, session.begin():
                done[name] = await job(session)
        except Exception:  # one failing job must not stop the others or the loop
            logger.exception("maintenance job %s failed", name)
    return done


def build_token_provider(
    settings: MarketSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> ServiceTokenProvider:
    """The relay's client_credentials token provider against {auth_url}/token (scope search:ingest)."""
    return outbox_relay.build_token_provider(settings, transport=transport)


def build_relay(
    settings: MarketSettings,
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    client: httpx.AsyncClient,
    tokens: TokenSource,
) -> Relay[OutboxEvent]:
    """The market's relay: market_outbox to {search_url}/documents, as search's ingestion documents."""
    return outbox_relay.build_relay(
        settings,
        model=OutboxEvent,
        document_of=ingestion_document,
        target_url=settings.search_url.rstrip("/") + "/documents",
        sessionmaker=sessionmaker,
        client=client,
        tokens=tokens,
    )


async def maintenance_forever(
    sessionmaker: async_sessionmaker[AsyncSession], *, interval: float, stop: asyncio.Event
) -> None:
    """Run the maintenance jobs every ``interval`` seconds until ``stop``."""
    while not stop.is_set():
        await run_maintenance(sessionmaker)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


async def fold_all(sessionmaker: async_sessionmaker[AsyncSession], *, batch: int, wait: bool = False) -> int:
    """Fold unfolded contract deltas into the rollup, ``batch`` per transaction, until none is left; returns how many.

    With ``wait`` false a round stops as soon as another process's fold holds the lock (it is doing the work).
    """
    folded = 0
    while True:
        async with sessionmaker() as session, session.begin():
            done = await stats_service.fold_pending(session=session, limit=batch, wait=wait)
        folded += done
        if done < batch:
            return folded


async def fold_forever(
    sessionmaker: async_sessionmaker[AsyncSession], *, interval: float, batch: int, stop: asyncio.Event
) -> None:
    """Fold new contract deltas every ``interval`` seconds until ``stop``."""
    while not stop.is_set():
        try:
            await fold_all(sessionmaker, batch=batch)
        except Exception:  # a failed round is retried; the statistics stay exact meanwhile (see stats.service)
            logger.exception("statistics fold failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


def background_tasks(
    settings: MarketSettings, *, relay: Relay[OutboxEvent], sessionmaker: async_sessionmaker[AsyncSession]
) -> Jobs:
    """The market's background loops: the outbox relay, the statistics fold, the maintenance jobs."""

    def jobs(stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        return [
            relay.run_forever(interval=settings.relay_interval_seconds, stop=stop),
            fold_forever(
                sessionmaker, interval=settings.stats_fold_interval_seconds, batch=settings.stats_fold_batch, stop=stop
            ),
            maintenance_forever(sessionmaker, interval=settings.maintenance_interval_seconds, stop=stop),
        ]

    return jobs


@contextlib.asynccontextmanager
async def market_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Build the relay and the suggestions' search client on app.state and, when configured, run the relay and the
    maintenance loop in the background."""
    settings: MarketSettings = app.state.settings
    transport = getattr(app.state, "outbound_transport", None)
    tokens = build_token_provider(settings, transport=transport)
    app.state.relay = build_relay(settings, sessionmaker=app.state.sessionmaker, client=app.state.http, tokens=tokens)
    jobs = background_tasks(settings, relay=app.state.relay, sessionmaker=app.state.sessionmaker)
    try:
        async with (
            running_in_background(jobs if settings.relay_runs_in_app else lambda _: []),
            open_search_client(settings, transport=transport) as search_client,
        ):
            app.state.search_client = search_client
            yield
    finally:
        await tokens.aclose()
