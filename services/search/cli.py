"""``techmarket search ...``: the search service's commands."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import Annotated

import httpx
import typer
from tqdm import tqdm

from services.search.engines import build_engine
from services.search.engines.base import KINDS, Kind
from services.search.reindex.client import MarketClient
from services.search.reindex.service import REPLAY_MARGIN, ReindexReport, reindex_kind
from services.search.segment import segmenter
from services.search.settings import SearchSettings
from shared.db import create_engine, create_sessionmaker, is_sqlite
from shared.migrations import upgrade_to_head
from shared.service_token import ServiceTokenProvider

__all__ = ["app", "run_reindex"]

app = typer.Typer(help="Search service commands.", no_args_is_help=True)

MARKET_SCOPE = "market:read"


async def run_reindex(
    settings: SearchSettings,
    *,
    kinds: Sequence[Kind] = KINDS,
    transport: httpx.AsyncBaseTransport | None = None,
    show_progress: bool = True,
    settle_seconds: float = 1.0,
    replay_margin: dt.timedelta = REPLAY_MARGIN,
) -> list[ReindexReport]:
    """Rebuild the configured engine's indexes from market.

    ``transport`` carries the calls to market and to auth's token endpoint (in-process when embedded, a fake in tests).
    """
    from services.search.app import SPEC

    secret = settings.indexer_client_secret.get_secret_value()
    url = settings.resolved_database_url
    if is_sqlite(url):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = create_engine(url)
    tokens = ServiceTokenProvider(
        token_url=settings.auth_url.rstrip("/") + "/token",
        client_id=settings.indexer_client_id,
        client_secret=secret,
        scope=MARKET_SCOPE,
        transport=transport,
    )
    engine = build_engine(settings, segmenter(settings.data_dir))
    reports: list[ReindexReport] = []
    try:
        await upgrade_to_head(database, SPEC.migrations, "alembic_version_search")
        await engine.open()
        async with httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(30.0)) as http:
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
                        )
                    )
    finally:
        await engine.close()
        await tokens.aclose()
        await database.dispose()
    return reports


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
