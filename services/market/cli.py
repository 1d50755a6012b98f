"""``techmarket market …``: the background process (outbox relay, statistics fold, maintenance), the sweep, imports,
the rebuild of the organization directory from auth.

``run_relay_forever()`` is what the container entry point runs for SERVICE=relay (infra/entrypoint.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from tqdm import tqdm

from services.market.directory_feed.rebuild import run_directory_rebuild
from services.market.matching.client import open_search_client
from services.market.settings import MarketSettings
from services.market.stats.fold import fold_all
from services.market.webhooks import delivery as webhook_delivery
from services.market.worker import (
    NOTIFICATIONS_CHANNEL,
    background_tasks,
    build_relay,
    build_token_provider,
    deliver_webhooks,
    maintenance_jobs,
    run_maintenance,
    webhook_config,
)
from shared.broadcast import attach, open_broadcaster
from shared.db import create_engine, create_sessionmaker
from shared.logs import configure_logging
from shared.outbox.relay import run_until_signalled

__all__ = ["app", "import_file", "run_relay_forever"]

app = typer.Typer(help="Market service commands: outbox relay, maintenance, bulk import.", no_args_is_help=True)

CONTENT_TYPES = {".csv": "text/csv", ".jsonl": "application/x-ndjson", ".ndjson": "application/x-ndjson"}
CHUNK_BYTES = 64 * 1024


async def _relay_main(*, once: bool) -> int:
    settings = MarketSettings()
    configure_logging(settings.log_level)
    engine = create_engine(settings.resolved_database_url, pool_size=settings.database_pool_size)
    sessionmaker = create_sessionmaker(engine)
    tokens = build_token_provider(settings)
    delivered = 0
    try:
        config = webhook_config(settings)
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as client,
            webhook_delivery.open_client(config) as webhook_client,
            # Notifications this process records (alerts, expiry notices) wake the app replicas' live streams
            # (PostgreSQL: pg_notify at commit; a SQLite relay process has no streams to wake).
            open_broadcaster(settings.resolved_broadcast_url, channel=NOTIFICATIONS_CHANNEL) as broadcaster,
        ):
            attach(sessionmaker, broadcaster)
            relay = build_relay(settings, sessionmaker=sessionmaker, client=client, tokens=tokens)
            if once:
                delivered = await relay.drain()
                await fold_all(sessionmaker=sessionmaker, batch=settings.stats_fold_batch, wait=True)
                await deliver_webhooks(sessionmaker, client=webhook_client, config=config)
                await run_maintenance(sessionmaker, maintenance_jobs())
                return delivered
            # The match alerts run here too: they percolate listings with search, with the relay's token.
            async with open_search_client(settings, transport=None, tokens=tokens) as search:
                await run_until_signalled(
                    background_tasks(
                        settings, relay=relay, sessionmaker=sessionmaker, webhook_client=webhook_client, search=search
                    )
                )
    finally:
        await tokens.aclose()
        await engine.dispose()
    return delivered


def run_relay_forever() -> None:
    """Run the outbox relay, the statistics fold and the maintenance loop until SIGTERM/SIGINT (SERVICE=relay)."""
    asyncio.run(_relay_main(once=False))


@app.command()
def relay(
    once: Annotated[
        bool, typer.Option(help="Deliver what is due, fold the statistics, run maintenance once, then exit.")
    ] = False,
) -> None:
    """Deliver outbox events to the search service (safe to run as several replicas on PostgreSQL)."""
    if once:
        delivered = asyncio.run(_relay_main(once=True))
        typer.echo(f"delivered {delivered} events")
    else:
        run_relay_forever()


@app.command()
def sweep() -> None:
    """Run the maintenance jobs once: expire listings and proposals past their expiry, send the expiring-soon
    notices, purge old idempotency keys."""

    async def main() -> dict[str, int]:
        settings = MarketSettings()
        engine = create_engine(settings.resolved_database_url)
        try:
            return await run_maintenance(create_sessionmaker(engine), maintenance_jobs())
        finally:
            await engine.dispose()

    for name, count in asyncio.run(main()).items():
        typer.echo(f"{name}: {count}")


@app.command("directory-rebuild")
def directory_rebuild() -> None:
    """Rebuild the organization directory from auth's API (every organization; only newer versions change anything)."""
    settings = MarketSettings()
    configure_logging(settings.log_level)
    report = asyncio.run(run_directory_rebuild(settings))
    typer.echo(
        f"{report.listed} organizations listed by auth: {report.applied} applied, {report.stale} already known, "
        f"{report.invalid} invalid; {report.offices} office rows and {report.listings} listings updated"
    )


async def _chunks(path: Path, progress: tqdm[Any] | None) -> AsyncIterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            if progress is not None:
                progress.update(len(chunk))
            yield chunk


async def import_file(
    path: Path, *, client: httpx.AsyncClient, token: str, show_progress: bool = True
) -> tuple[int, dict[str, Any]]:
    """Stream ``path`` to POST /market/achievements/import on ``client``; returns (status code, JSON body)."""
    content_type = CONTENT_TYPES.get(path.suffix.lower())
    if content_type is None:
        raise typer.BadParameter(f"{path.name}: use a .csv, .jsonl or .ndjson file", param_hint="FILE")
    size = (await asyncio.to_thread(path.stat)).st_size
    with tqdm(total=size, unit="B", unit_scale=True, desc=path.name, disable=not show_progress) as progress:
        response = await client.post(
            "/market/achievements/import",
            content=_chunks(path, progress),
            headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
            timeout=httpx.Timeout(600.0),
        )
    body: dict[str, Any] = response.json()
    return response.status_code, body


@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV (header row) or JSON lines.")],
    token: Annotated[str, typer.Option(envvar="TECHMARKET_TOKEN", help="Access token of a member of the owner.")],
    url: Annotated[
        str, typer.Option(help="Base URL of techmarket (embedded) or the gateway.")
    ] = "http://127.0.0.1:8000",
    report: Annotated[Path | None, typer.Option(help="Write the full per-row report (JSON) here.")] = None,
) -> None:
    """Bulk-import achievements for your organization, with a progress bar; re-running creates no duplicates."""

    async def main() -> tuple[int, dict[str, Any]]:
        async with httpx.AsyncClient(base_url=url) as client:
            return await import_file(file, client=client, token=token)

    status, body = asyncio.run(main())
    if status != 200:
        typer.echo(f"import refused ({status}): {body.get('detail')}", err=True)
        raise typer.Exit(code=1)
    typer.echo(
        f"{body['total_rows']} rows: {body['created']} created, {body['existing']} already listed, {body['failed']} failed"
    )
    for row in body["rows"]:
        if row["status"] == "error":
            fields = "; ".join(f"{e['field']}: {e['message']}" for e in row["errors"])
            typer.echo(f"  row {row['row']}: {fields}", err=True)
    if report is not None:
        report.write_text(json.dumps(body, ensure_ascii=False, indent=2), encoding="utf-8")
