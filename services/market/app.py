"""The market service's FastAPI app. Run alone: `uvicorn services.market.app:create_app --factory`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx
from fastapi import APIRouter, FastAPI

from services.market.brokers.router import router as brokers_router
from services.market.contracts.router import router as contracts_router
from services.market.dashboard.router import router as dashboard_router
from services.market.directory.router import router as directory_router
from services.market.directory.stats_router import router as institution_stats_router
from services.market.directory_feed.router import router as directory_feed_router
from services.market.listings import router as listings_router
from services.market.matching.router import router as matching_router
from services.market.notifications.router import router as notifications_router
from services.market.offices.router import router as offices_router
from services.market.openapi_examples import REQUEST_EXAMPLES
from services.market.proposals.router import interest_router
from services.market.proposals.router import router as proposals_router
from services.market.reference.router import router as reference_router
from services.market.saved_searches.router import router as saved_searches_router
from services.market.settings import MarketSettings
from services.market.stats.router import router as stats_router
from services.market.stats.targets.router import router as stats_targets_router
from services.market.webhooks.router import router as webhooks_router
from services.market.worker import market_lifespan
from shared.service import ServiceSpec, build_service_app

__all__ = ["SPEC", "build_routers", "create_app"]


def build_routers() -> list[APIRouter]:
    """Every router of the app, in the order of the OpenAPI document; the listing routers are built per app."""
    achievements_router, demands_router = listings_router.build_routers()
    return [
        reference_router,
        achievements_router,
        demands_router,
        matching_router,
        interest_router,
        proposals_router,
        brokers_router,
        contracts_router,
        offices_router,
        directory_feed_router,
        directory_router,
        stats_targets_router,
        stats_router,
        institution_stats_router,
        notifications_router,
        webhooks_router,
        saved_searches_router,
        dashboard_router,
    ]


SPEC = ServiceSpec(
    name="market",
    title="techmarket market",
    description=(
        "Achievements (科技成果) listed for transfer, technical demands (技术需求), brokered proposals (撮合), technology contract registration (技术合同认定登记) and the contract statistics."
    ),
    migrations=Path(__file__).parent / "migrations",
    routers=(),  # build_routers(), in create_app: SPEC alone is what the CLI and the tests' databases read
    extra_lifespan=market_lifespan,
    request_examples=REQUEST_EXAMPLES,
)


def create_app(settings: MarketSettings | None = None, *, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """Build the market app; transport routes its outbound HTTP calls (in-process when embedded)."""
    spec = dataclasses.replace(SPEC, routers=build_routers())
    app = build_service_app(spec, settings or MarketSettings(), transport=transport)
    # The relay's token provider makes its own HTTP client; it must travel the same (in-process) route.
    app.state.outbound_transport = transport
    return app
