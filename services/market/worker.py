"""Background work of the market app: the outbox relay, the statistics fold, the webhook deliveries and the
maintenance loop.

Started by the app's lifespan (ServiceSpec.extra_lifespan) when ``MarketSettings.relay_runs_in_app``; production
runs the relay as its own process instead (``techmarket market relay`` / SERVICE=relay, see services.market.cli).
Either way ``app.state.relay`` holds the relay, so tests can drive it by hand; likewise ``app.state.webhook_client``
and ``app.state.webhook_config`` for :func:`deliver_webhooks`.

The maintenance jobs are named in one place, :func:`maintenance_jobs`: each ``job(session) -> int`` runs in its
own transaction every ``maintenance_interval_seconds`` and returns how many rows it touched. The lifespan, the relay
process and ``techmarket market sweep`` build that table and hand it to :func:`run_maintenance`. The statistics
fold is services.market.stats.fold; this module only schedules it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.market.idempotency import purge_expired
from services.market.listings import service as listings_service
from services.market.listings.kinds import ACHIEVEMENT, DEMAND
from services.market.match_alerts import service as match_alerts
from services.market.matching.client import SearchClient, open_search_client
from services.market.notifications import service as notifications_service
from services.market.notifications.stream import StreamSlots
from services.market.outbox.models import OutboxEvent
from services.market.proposals import service as proposals_service
from services.market.settings import MarketSettings
from services.market.stats.fold import fold_forever, fold_import
from services.market.webhooks import delivery as webhook_delivery
from services.market.webhooks.delivery import DeliveryConfig, DisabledEndpoint, RoundReport
from shared.broadcast import attach, detach, open_broadcaster
from shared.clock import utcnow
from shared.outbox import relay as outbox_relay
from shared.outbox.relay import Jobs, Relay, TokenSource, ingestion_document, running_in_background
from shared.service_token import ServiceTokenProvider

__all__ = [
    "NOTIFICATIONS_CHANNEL",
    "MaintenanceJob",
    "alert_forever",
    "background_tasks",
    "build_relay",
    "build_token_provider",
    "deliver_webhooks",
    "maintenance_jobs",
    "market_lifespan",
    "notify_disabled_webhook",
    "run_maintenance",
    "webhook_config",
]

logger = logging.getLogger("techmarket.market.worker")

# The LISTEN/NOTIFY channel of notification wake-ups (PostgreSQL).
NOTIFICATIONS_CHANNEL = "market_notifications"

MaintenanceJob = Callable[[AsyncSession], Awaitable[int]]


async def send_digests(session: AsyncSession) -> int:
    """Maintenance job: the saved searches' daily digests due now (09:00 Asia/Shanghai)."""
    return await match_alerts.send_digests(session=session, now=utcnow())


def maintenance_jobs() -> dict[str, MaintenanceJob]:
    """Every maintenance job of the market by name: the app, the relay process (SERVICE=relay) and
    `techmarket market sweep` all run this table."""
    return {
        "idempotency_keys_purged": lambda session: purge_expired(session=session),
        "saved_search_digests": send_digests,
        # Expiring-soon notices (issue 14), each once per subject and expiry (markers in notification_markers): they
        # reach people within one maintenance interval of entering the window.
        "proposals_expiring_notified": lambda session: proposals_service.notify_expiring(session=session),
        "achievements_expiring_notified": lambda session: listings_service.notify_expiring(
            session=session, kind=ACHIEVEMENT
        ),
        "demands_expiring_notified": lambda session: listings_service.notify_expiring(session=session, kind=DEMAND),
        "notification_markers_purged": lambda session: notifications_service.purge_markers(session=session),
        # The periodic half of expiry (the other half runs on read).
        "achievements_expired": lambda session: listings_service.expire_due(session=session, kind=ACHIEVEMENT),
        "demands_expired": lambda session: listings_service.expire_due(session=session, kind=DEMAND),
        "proposals_expired": lambda session: proposals_service.expire_due(session=session),
    }


async def run_maintenance(
    sessionmaker: async_sessionmaker[AsyncSession], jobs: Mapping[str, MaintenanceJob]
) -> dict[str, int]:
    """Run every job of ``jobs`` once, each in its own transaction; returns rows touched per job."""
    done: dict[str, int] = {}
    for name, job in jobs.items():
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
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    jobs: Mapping[str, MaintenanceJob],
    interval: float,
    stop: asyncio.Event,
) -> None:
    """Run ``jobs`` every ``interval`` seconds until ``stop``."""
    while not stop.is_set():
        await run_maintenance(sessionmaker, jobs)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


def webhook_config(settings: MarketSettings) -> DeliveryConfig:
    """How webhook deliveries are made, from the settings."""
    return DeliveryConfig(
        environment=settings.environment,
        timeout=settings.webhook_timeout_seconds,
        response_cap=settings.webhook_response_cap_bytes,
        batch=settings.webhook_batch,
        retry_base=settings.webhook_retry_base_seconds,
        retry_cap=settings.webhook_retry_cap_seconds,
        retry_window=dt.timedelta(hours=settings.webhook_retry_window_hours),
        lease=dt.timedelta(seconds=settings.webhook_timeout_seconds * 6),
    )


async def notify_disabled_webhook(session: AsyncSession, endpoint: DisabledEndpoint) -> None:
    """Tell the org admins of an endpoint a delivery round disabled, in the transaction that disables it (webhooks
    cannot: it does not import notifications). The organization's other endpoints subscribed to webhook.disabled
    get it too."""
    await notifications_service.notify(
        session=session,
        type="webhook.disabled",
        title="Webhook 已停用：24 小时内投递均失败",
        subject_type="webhook",
        subject_id=endpoint.endpoint_id,
        data={"webhook_id": str(endpoint.endpoint_id), "url": endpoint.url, "reason": endpoint.reason},
        orgs=[(endpoint.org_id, "org_admin")],
    )


async def deliver_webhooks(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    client: httpx.AsyncClient,
    config: DeliveryConfig,
    now: dt.datetime | None = None,
) -> RoundReport:
    """One webhook delivery round; an endpoint it disables is notified to its org admins with the disabling."""
    return await webhook_delivery.run_round(
        sessionmaker, client=client, config=config, now=now, on_disabled=notify_disabled_webhook
    )


async def webhooks_forever(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    client: httpx.AsyncClient,
    config: DeliveryConfig,
    interval: float,
    stop: asyncio.Event,
) -> None:
    """Deliver due webhooks until ``stop``; a full batch goes on at once, otherwise pause ``interval``."""
    while not stop.is_set():
        attempted = 0
        try:
            attempted = (await deliver_webhooks(sessionmaker, client=client, config=config)).attempted
        except Exception:  # a failed round is retried: deliveries stay pending (their lease runs out)
            logger.exception("webhook delivery round failed")
        if attempted >= config.batch:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


async def alert_forever(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    search: SearchClient,
    settings: MarketSettings,
    stop: asyncio.Event,
) -> None:
    """Run the due match-alert jobs (saved searches, open demands) every ``match_alert_interval_seconds`` until
    ``stop``. A job search cannot answer stays pending with backoff (match_alerts.service)."""
    while not stop.is_set():
        try:
            await match_alerts.run_pending(sessionmaker=sessionmaker, search=search, settings=settings)
        except Exception:  # a failed round is retried; the jobs stay pending meanwhile
            logger.exception("match alert round failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=settings.match_alert_interval_seconds)


def background_tasks(
    settings: MarketSettings,
    *,
    relay: Relay[OutboxEvent],
    sessionmaker: async_sessionmaker[AsyncSession],
    webhook_client: httpx.AsyncClient | None = None,
    search: SearchClient | None = None,
) -> Jobs:
    """The market's background loops: the outbox relay, the statistics fold, the webhook deliveries, the
    maintenance jobs and, with a search client, the match alerts."""

    def jobs(stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        webhooks = (
            [
                webhooks_forever(
                    sessionmaker,
                    client=webhook_client,
                    config=webhook_config(settings),
                    interval=settings.webhook_interval_seconds,
                    stop=stop,
                )
            ]
            if webhook_client is not None
            else []
        )
        return [
            *webhooks,
            relay.run_forever(interval=settings.relay_interval_seconds, stop=stop),
            fold_forever(
                sessionmaker=sessionmaker,
                interval=settings.stats_fold_interval_seconds,
                batch=settings.stats_fold_batch,
                stop=stop,
            ),
            maintenance_forever(
                sessionmaker, jobs=maintenance_jobs(), interval=settings.maintenance_interval_seconds, stop=stop
            ),
            *([alert_forever(sessionmaker, search=search, settings=settings, stop=stop)] if search is not None else []),
        ]

    return jobs


@contextlib.asynccontextmanager
async def market_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Build the relay, the suggestions' search client and the notifications' broadcaster on app.state and, when
    configured, run the relay and the maintenance loop in the background."""
    settings: MarketSettings = app.state.settings
    transport = getattr(app.state, "outbound_transport", None)
    tokens = build_token_provider(settings, transport=transport)
    app.state.relay = build_relay(settings, sessionmaker=app.state.sessionmaker, client=app.state.http, tokens=tokens)
    app.state.webhook_config = webhook_config(settings)
    # The HTTP contract import hands its deltas to the statistics' fold (contracts do not import stats).
    app.state.contract_import_fold = fold_import
    # Deliveries go to the organizations' own servers over the real network, never through the in-process
    # transport of the embedded app.
    app.state.webhook_client = webhook_delivery.open_client(app.state.webhook_config)
    try:
        # The broadcaster comes first: notifications recorded by the background loops wake live streams too.
        async with open_broadcaster(settings.resolved_broadcast_url, channel=NOTIFICATIONS_CHANNEL) as broadcaster:
            # Live notification streams: wake-ups after commit (in-process on SQLite, LISTEN/NOTIFY on PostgreSQL),
            # found by notify() on every session of this app, and the per-process cap on open streams.
            app.state.broadcaster = broadcaster
            app.state.notification_streams = StreamSlots(settings.notifications_stream_max_per_process)
            attach(app.state.sessionmaker, broadcaster)
            try:
                async with open_search_client(settings, transport=transport, tokens=tokens) as search_client:
                    app.state.search_client = search_client
                    jobs = background_tasks(
                        settings,
                        relay=app.state.relay,
                        sessionmaker=app.state.sessionmaker,
                        webhook_client=app.state.webhook_client,
                        search=search_client,
                    )
                    async with running_in_background(jobs if settings.relay_runs_in_app else lambda _: []):
                        yield
            finally:
                detach(app.state.sessionmaker)
    finally:
        await app.state.webhook_client.aclose()
        await tokens.aclose()
