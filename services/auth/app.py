"""The auth service's FastAPI app. Run alone: `uvicorn services.auth.app:create_app --factory`."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from services.auth.settings import AuthSettings
from shared.service import ServiceSpec, build_service_app

__all__ = ["create_app"]

SPEC = ServiceSpec(
    name="auth",
    title="techmarket auth",
    description=(
        "Organizations of the 1+4+N technology transfer system, their users and roles, OAuth2 tokens and the JWKS that every service verifies tokens with."
    ),
    migrations=Path(__file__).parent / "migrations",
    routers=[],
)


def create_app(settings: AuthSettings | None = None, *, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """Build the auth app; transport routes its outbound HTTP calls (in-process when embedded)."""
    return build_service_app(SPEC, settings or AuthSettings(), transport=transport)
