"""The embedded default: all three services in one process, mounted under /auth, /market and /search.

Calls between services stay HTTP calls with the same contracts as in production, but travel in-process through
an ASGI transport to this same app, so nothing depends on which port the server listens on.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse

from services.auth.app import create_app as create_auth_app
from services.auth.settings import AuthSettings
from services.market.app import create_app as create_market_app
from services.market.dashboard.router import router as dashboard_router
from services.market.settings import MarketSettings
from services.search.app import create_app as create_search_app
from services.search.settings import SearchSettings
from shared.errors import install_error_handlers
from shared.middleware import RequestContextMiddleware

__all__ = ["INTERNAL_BASE_URL", "create_app"]

# Base URL of in-process calls between the embedded services (never resolved on the network).
INTERNAL_BASE_URL = "http://techmarket.internal"

SERVICES = ("auth", "market", "search")


def create_app(
    *,
    data_dir: Path | None = None,
    auth_settings: AuthSettings | None = None,
    market_settings: MarketSettings | None = None,
    search_settings: SearchSettings | None = None,
) -> FastAPI:
    """The one-process app. Settings come from the environment unless given; ``data_dir`` overrides DATA_DIR."""
    overrides: dict[str, object] = {"auth_url": f"{INTERNAL_BASE_URL}/auth"}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    # Auth's relay feeds market's directory through the same in-process route.
    auth = (auth_settings or AuthSettings()).model_copy(
        update={**overrides, "market_url": f"{INTERNAL_BASE_URL}/market"}
    )
    market = (market_settings or MarketSettings()).model_copy(update=overrides)
    search = (search_settings or SearchSettings()).model_copy(update=overrides)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Mounted apps' lifespans do not run by themselves; enter them in dependency order (auth first).
        async with contextlib.AsyncExitStack() as stack:
            for sub in sub_apps:
                await stack.enter_async_context(sub.router.lifespan_context(sub))
            yield

    gateway = FastAPI(
        title="techmarket",
        description="The 1+4+N technology transfer API of Sichuan and Chongqing, all services in one process.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    transport = httpx.ASGITransport(app=gateway)
    sub_apps = [
        create_auth_app(auth, transport=transport),
        create_search_app(search, transport=transport),
        create_market_app(market, transport=transport),
    ]
    install_error_handlers(gateway)
    gateway.add_middleware(RequestContextMiddleware)

    @gateway.get("/", include_in_schema=False, response_model=None)
    async def index() -> JSONResponse | HTMLResponse:
        return JSONResponse(
            {
                "name": "techmarket",
                "services": {
                    name: {
                        "docs": f"/{name}/docs",
                        "openapi": f"/{name}/openapi.json",
                        "health": f"/{name}/healthz",
                    }
                    for name in SERVICES
                },
            }
        )

    # The public dashboard at the top level, as the production gateway routes /dashboard to market.
    gateway.include_router(dashboard_router)
    for name, sub in zip(("auth", "search", "market"), sub_apps, strict=True):
        gateway.mount(f"/{name}", sub)
    return gateway
