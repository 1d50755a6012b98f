"""Build one service's FastAPI app the same way for all three: errors, middleware, health, lifespan.

The lifespan opens the database engine (and migrates it), the outbound HTTP client and the token verifier, then
whatever the service adds; it closes them in reverse order at shutdown. Nothing is opened at import time.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text

from shared.clientaddress import ClientAddressMiddleware
from shared.db import create_engine, create_sessionmaker, is_sqlite, while_database_starts
from shared.errors import install_error_handlers, problem_response
from shared.logs import configure_logging
from shared.middleware import BodyLimitMiddleware, MethodGuardMiddleware, RequestContextMiddleware
from shared.migrations import upgrade_to_head
from shared.openapi import finalize_openapi, install_docs, operation_id
from shared.security import JWKSVerifier
from shared.settings import ServiceSettings

__all__ = ["ServiceSpec", "build_service_app"]

ExtraLifespan = Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]


class Health(BaseModel):
    """The liveness answer."""

    status: Literal["ok"] = Field(description="Always ok: the process answers.")
    service: str = Field(description="Which service answered: auth, market or search.")


class Readiness(BaseModel):
    """The readiness answer (503 problem+json `not-ready` when the database does not answer)."""

    status: Literal["ready"] = Field(description="Always ready: the service's database answered.")
    service: str = Field(description="Which service answered: auth, market or search.")


@dataclass(frozen=True)
class ServiceSpec:
    """What distinguishes one service's app from another's."""

    name: str
    title: str
    description: str
    migrations: Path
    routers: Sequence[APIRouter]
    extra_lifespan: ExtraLifespan | None = None
    version: str = "0.1.0"
    # Request-body examples of the OpenAPI document, by operation id → example name → JSON body.
    request_examples: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def build_service_app(
    spec: ServiceSpec, settings: ServiceSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """The FastAPI app of one service. ``transport`` routes its outbound HTTP (in-process in embedded mode)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level)
        url = settings.resolved_database_url
        if is_sqlite(url):
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, pool_size=settings.database_pool_size)
        http_client = httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(10.0))
        try:
            await while_database_starts(
                lambda: upgrade_to_head(engine, spec.migrations, f"alembic_version_{spec.name}"),
                wait_seconds=settings.database_startup_wait_seconds,
                what="migrations",
            )
            app.state.settings = settings
            app.state.engine = engine
            app.state.sessionmaker = create_sessionmaker(engine)
            app.state.http = http_client
            app.state.token_verifier = JWKSVerifier(
                client=http_client,
                jwks_url=settings.auth_url.rstrip("/") + "/.well-known/jwks.json",
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
            )
            if spec.extra_lifespan is None:
                yield
            else:
                async with spec.extra_lifespan(app):
                    yield
        finally:
            await http_client.aclose()
            await engine.dispose()

    app = FastAPI(
        title=spec.title,
        description=spec.description,
        version=spec.version,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        docs_url=None,  # served from the project's own assets below (no CDN)
        redoc_url=None,
    )
    install_error_handlers(app)

    def limit_for_path(path: str) -> int:
        return settings.import_max_body_bytes if path.rstrip("/").endswith("/import") else settings.max_body_bytes

    # Innermost: sees the route table; answers 405 with every allowed method before routing can misroute it.
    app.add_middleware(MethodGuardMiddleware, routes=lambda: app.router.routes)
    app.add_middleware(BodyLimitMiddleware, limit_for_path=limit_for_path)
    # request.client is the real client from here on (login limits count per client IP): X-Forwarded-For only from
    # TRUSTED_PROXIES; the servers run with uvicorn's proxy_headers off.
    app.add_middleware(ClientAddressMiddleware, trusted_proxies=settings.trusted_proxy_networks)
    app.add_middleware(RequestContextMiddleware)

    health = APIRouter(tags=["health"])

    @health.get("/healthz", summary="Liveness: the process is up")
    async def healthz() -> Health:
        return Health(status="ok", service=spec.name)

    @health.get(
        "/readyz",
        summary="Readiness: the service's database answers",
        responses={200: {"model": Readiness, "description": "Ready"}, 503: {"description": "Not ready"}},
    )
    async def readyz(request: Request) -> JSONResponse:
        try:
            async with request.app.state.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as exc:  # any failure to reach the database means not ready
            return problem_response(
                request,
                status=503,
                slug="not-ready",
                title="Service not ready",
                detail=f"database unavailable: {type(exc).__name__}",
                headers={"Retry-After": "5"},  # every 503 says when to look again (documented in OpenAPI)
            )
        return JSONResponse(Readiness(status="ready", service=spec.name).model_dump())

    app.include_router(health)
    for router in spec.routers:
        app.include_router(router)

    install_docs(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            app.openapi_schema = finalize_openapi(schema, app, request_examples=spec.request_examples)
        # FastAPI's /openapi.json handler adds the mount point (root_path, e.g. /market) as `servers`.
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
