"""Background work of the market app: the outbox relay and the maintenance loop (expiry, key purge).

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
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.market.idempotency import purge_expired
from services.market.outbox.relay import Relay, TokenSource
from services.market.settings import MarketSettings
from shared.service_token import ServiceTokenProvider

__all__ = ["build_relay", "build_token_provider", "market_lifespan", "register_maintenance", "run_maintenance"]

logger = logging.getLogger("techmarket.market.worker")

MaintenanceJob = Callable[[AsyncSession], Awaitable[int]]
_jobs: dict[str, MaintenanceJob] = {"idempotency_keys_purged": lambda session: purge_expired(session)}


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
    """The relay's client_credentials token provider against {auth_url}/token."""
    return ServiceTokenProvider(
        token_url=settings.auth_url.rstrip("/") + "/token",
        client_id=settings.relay_client_id,
        client_secret=settings.relay_client_secret.get_secret_value(),
        scope=settings.relay_scope,
        transport=transport,
    )


def build_relay(
    settings: MarketSettings,
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    client: httpx.AsyncClient,
    tokens: TokenSource,
) -> Relay:
    """A relay configured from settings, posting to {search_url}/documents."""
    return Relay(
        sessionmaker=sessionmaker,
        client=client,
        target_url=settings.search_url.rstrip("/") + "/documents",
        tokens=tokens,
        batch_size=settings.relay_batch_size,
        lease_seconds=settings.relay_lease_seconds,
        base_backoff_seconds=settings.relay_base_backoff_seconds,
        max_backoff_seconds=settings.relay_max_backoff_seconds,
    )


async def maintenance_forever(
    sessionmaker: async_sessionmaker[AsyncSession], *, interval: float, stop: asyncio.Event
) -> None:
    """Run the maintenance jobs every ``interval`` seconds until ``stop``."""
    while not stop.is_set():
        await run_maintenance(sessionmaker)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


@contextlib.asynccontextmanager
async def market_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Build the relay on app.state and, when configured, run it and the maintenance loop in the background."""
    settings: MarketSettings = app.state.settings
    tokens = build_token_provider(settings, transport=getattr(app.state, "outbound_transport", None))
    app.state.relay = build_relay(settings, sessionmaker=app.state.sessionmaker, client=app.state.http, tokens=tokens)
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    if settings.relay_runs_in_app:
        tasks.append(
            asyncio.create_task(app.state.relay.run_forever(interval=settings.relay_interval_seconds, stop=stop))
        )
        tasks.append(
            asyncio.create_task(
                maintenance_forever(app.state.sessionmaker, interval=settings.maintenance_interval_seconds, stop=stop)
            )
        )
    try:
        yield
    finally:
        stop.set()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await tokens.aclose()
