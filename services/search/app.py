"""The search service's FastAPI app. Run alone: `uvicorn services.search.app:create_app --factory`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from fastapi import FastAPI

from services.search.documents.router import router as documents_router
from services.search.engines import build_engine
from services.search.query.router import router as query_router
from services.search.segment import segmenter
from services.search.settings import SearchSettings
from shared.service import ServiceSpec, build_service_app

__all__ = ["SPEC", "create_app"]


@contextlib.asynccontextmanager
async def search_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the segmenter (once per process, quietly) and open the configured engine; close it at shutdown."""
    settings: SearchSettings = app.state.settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app.state.segmenter = await asyncio.to_thread(segmenter, settings.data_dir)
    engine = build_engine(settings, app.state.segmenter)
    await engine.open()
    app.state.search_engine = engine
    try:
        yield
    finally:
        await engine.close()


SPEC = ServiceSpec(
    name="search",
    title="techmarket search",
    description=(
        "Chinese full-text search over published achievements and demands, with filters, facets and highlights."
    ),
    migrations=Path(__file__).parent / "migrations",
    routers=[query_router, documents_router],
    extra_lifespan=search_lifespan,
)


def create_app(settings: SearchSettings | None = None, *, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """Build the search app; transport routes its outbound HTTP calls (in-process when embedded)."""
    return build_service_app(SPEC, settings or SearchSettings(), transport=transport)
