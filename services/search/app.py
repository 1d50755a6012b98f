"""The search service's FastAPI app. Run alone: `uvicorn services.search.app:create_app --factory`."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from services.search.settings import SearchSettings
from shared.service import ServiceSpec, build_service_app

__all__ = ["create_app"]

SPEC = ServiceSpec(
    name="search",
    title="techmarket search",
    description=(
        "Chinese full-text search over published achievements and demands, with filters, facets and highlights."
    ),
    migrations=Path(__file__).parent / "migrations",
    routers=[],
)


def create_app(settings: SearchSettings | None = None, *, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """Build the search app; transport routes its outbound HTTP calls (in-process when embedded)."""
    return build_service_app(SPEC, settings or SearchSettings(), transport=transport)
