"""The auth service's FastAPI app. Run alone: `uvicorn services.auth.app:create_app --factory`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from fastapi import FastAPI

from services.auth.bootstrap import run_startup
from services.auth.clients.router import router as clients_router
from services.auth.keys.router import router as keys_router
from services.auth.openapi_examples import REQUEST_EXAMPLES
from services.auth.organizations.router import router as organizations_router
from services.auth.outbox.relay import auth_relay_lifespan
from services.auth.passwords import PasswordHasher
from services.auth.settings import AuthSettings
from services.auth.tokens.router import router as tokens_router
from services.auth.users.router import router as users_router
from shared.db import while_database_starts
from shared.security import JWKSVerifier
from shared.service import ServiceSpec, build_service_app

__all__ = ["create_app"]

# Base URL of the auth app's calls to itself (its own JWKS); never resolved on the network.
SELF_BASE_URL = "http://auth.self"


@contextlib.asynccontextmanager
async def _auth_lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: AuthSettings = app.state.settings
    hasher = PasswordHasher(
        memory_kib=settings.password_hash_memory_kib,
        time_cost=settings.password_hash_time_cost,
        parallelism=settings.password_hash_parallelism,
    )
    app.state.password_hasher = hasher
    await while_database_starts(
        lambda: run_startup(sessionmaker=app.state.sessionmaker, settings=settings, hasher=hasher),
        wait_seconds=settings.database_startup_wait_seconds,
        what="signing key, bootstrap admin and service clients",
    )
    # The auth service verifies its own tokens against its own JWKS, and its relay gets its token from its own
    # /token, in-process, whatever auth_url says: it must not depend on reaching itself over the network
    # (standalone, auth_url may point at a proxy or nowhere).
    self_transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=self_transport, base_url=SELF_BASE_URL) as self_client:
        app.state.token_verifier = JWKSVerifier(
            client=self_client,
            jwks_url=f"{SELF_BASE_URL}/.well-known/jwks.json",
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            # In-process and cheap: refetch on every unknown kid, so a rotation never fails auth's own endpoints.
            min_refetch_interval=0.0,
        )
        async with auth_relay_lifespan(app, token_url=f"{SELF_BASE_URL}/token", token_transport=self_transport):
            yield


SPEC = ServiceSpec(
    name="auth",
    title="techmarket auth",
    description=(
        "Organizations of the 1+4+N technology transfer system, their users and roles, OAuth2 tokens and the JWKS that every service verifies tokens with."
    ),
    migrations=Path(__file__).parent / "migrations",
    routers=[tokens_router, keys_router, organizations_router, users_router, clients_router],
    extra_lifespan=_auth_lifespan,
    request_examples=REQUEST_EXAMPLES,
)


def create_app(settings: AuthSettings | None = None, *, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """Build the auth app; transport routes its outbound HTTP calls (in-process when embedded)."""
    return build_service_app(SPEC, settings or AuthSettings(), transport=transport)
