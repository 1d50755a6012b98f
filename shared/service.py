"""Build one service's FastAPI app the same way for all three: errors, middleware, health, lifespan.

The lifespan opens the database engine (and migrates it), the outbound HTTP client and the token verifier, then
whatever the service adds; it closes them in reverse order at shutdown. Nothing is opened at import time.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from sqlalchemy import text

from shared.db import create_engine, create_sessionmaker, is_sqlite
from shared.errors import install_error_handlers, problem_response
from shared.logs import configure_logging
from shared.middleware import BodyLimitMiddleware, MethodGuardMiddleware, RequestContextMiddleware
from shared.migrations import upgrade_to_head
from shared.security import JWKSVerifier
from shared.settings import ServiceSettings

__all__ = ["ServiceSpec", "build_service_app"]

ExtraLifespan = Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details. `errors` lists field errors on 422 (field is a dotted path).",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "example": "urn:techmarket:problem:validation-failed"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string", "example": "organization.credit_code"},
                    "in": {"type": "string", "example": "body"},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}


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
            await upgrade_to_head(engine, spec.migrations, f"alembic_version_{spec.name}")
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

    app = FastAPI(title=spec.title, description=spec.description, version=spec.version, lifespan=lifespan)
    install_error_handlers(app)

    def limit_for_path(path: str) -> int:
        return settings.import_max_body_bytes if path.rstrip("/").endswith("/import") else settings.max_body_bytes

    # Innermost: sees the route table; answers 405 with every allowed method before routing can misroute it.
    app.add_middleware(MethodGuardMiddleware, routes=lambda: app.router.routes)
    app.add_middleware(BodyLimitMiddleware, limit_for_path=limit_for_path)
    app.add_middleware(RequestContextMiddleware)

    health = APIRouter(tags=["health"])

    @health.get("/healthz", summary="Liveness: the process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": spec.name}

    @health.get("/readyz", summary="Readiness: the service's database answers", responses={503: {}})
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
            )
        return JSONResponse({"status": "ready", "service": spec.name})

    app.include_router(health)
    for router in spec.routers:
        app.include_router(router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
