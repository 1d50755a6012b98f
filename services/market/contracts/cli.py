"""``techmarket contracts …``: bulk import of historical registrations with a progress bar; rollup rebuild.

An entry point (mounted by services.cli), so it wires what the contracts domain does not import: the statistics'
fold of an import (services.market.stats.fold), as the app's lifespan does for the HTTP import.
"""

from __future__ import annotations

import asyncio
import csv
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

__all__ = ["app"]

app = typer.Typer(
    help="Technology contracts: bulk import of historical registrations, statistics rollup.", no_args_is_help=True
)


@app.command("import")
def import_file(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A .csv (UTF-8) or .xlsx file.")],
    office_id: Annotated[
        str | None, typer.Option(help="Office of rows without an office_id column (its region must be known).")
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Write the per-row report (failed and duplicate rows) as CSV.")
    ] = None,
    actor: Annotated[str, typer.Option(help="Recorded as the importing subject.")] = "cli",
) -> None:
    """Import historical registrations into the market database (MARKET_DATABASE_URL), as the HTTP import does."""
    from services.market.app import SPEC
    from services.market.contracts import importing
    from services.market.settings import MarketSettings
    from services.market.stats.fold import fold_import
    from shared.db import create_engine, create_sessionmaker, is_sqlite
    from shared.migrations import upgrade_to_head

    office = uuid.UUID(office_id) if office_id else None
    media = importing.XLSX_MEDIA_TYPE if path.suffix.lower() == ".xlsx" else "text/csv"
    total = None
    if media == "text/csv":
        with path.open("rb") as handle:
            total = max(0, sum(1 for _ in handle) - 1)
    settings = MarketSettings()
    url = settings.resolved_database_url
    if is_sqlite(url):
        settings.data_dir.mkdir(parents=True, exist_ok=True)

    async def run() -> importing.ImportResult:
        engine = create_engine(url)
        try:
            await upgrade_to_head(engine, SPEC.migrations, "alembic_version_market")
            async with create_sessionmaker(engine)() as session:
                with path.open("rb") as handle, tqdm(total=total, unit="rows", desc=path.name) as bar:
                    result = await importing.import_rows(
                        session=session,
                        actor_subject=actor,
                        actor_org_id=None,
                        rows=importing.read_rows(handle, media),
                        default_office=office,
                        restrict_office=None,
                        media_type=media,
                        fold=fold_import,
                        keep="problems",
                        progress=_advance(bar),
                    )
                await session.commit()
                return result
        finally:
            await engine.dispose()

    try:
        result = asyncio.run(run())
    except Exception as exc:  # a problem+json error or a database error: say it plainly, store nothing
        typer.echo(f"import failed, nothing stored: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(
        f"{result.total_rows} rows: {result.imported} imported, {result.duplicates} duplicates, "
        f"{result.failed} failed (import {result.import_id})"
    )
    if report is not None:
        with report.open("w", encoding="utf-8-sig", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["row", "status", "contract_id", "field", "message"])
            for line in result.rows:
                for error in line.errors or [{"field": "", "message": ""}]:
                    writer.writerow([line.row, line.status, line.contract_id or "", error["field"], error["message"]])
    elif result.failed:
        for line in [r for r in result.rows if r.status == "failed"][:20]:
            typer.echo(
                f"  row {line.row}: " + "; ".join(f"{e['field']}: {e['message']}" for e in line.errors), err=True
            )
    if result.failed:
        sys.exit(2)


def _advance(bar: tqdm) -> Callable[[int], None]:  # type: ignore[type-arg]
    def advance(rows: int) -> None:
        bar.update(rows)

    return advance


@app.command("rebuild-stats")
def rebuild_stats() -> None:
    """Recompute the statistics rollup from the ledger of deltas (after a restore, or to verify it)."""
    from services.market.settings import MarketSettings
    from services.market.stats import fold
    from shared.db import create_engine, create_sessionmaker

    async def run() -> None:
        engine = create_engine(MarketSettings().resolved_database_url)
        try:
            async with create_sessionmaker(engine)() as session:
                await fold.rebuild(session=session)
                await session.commit()
        finally:
            await engine.dispose()

    asyncio.run(run())
    typer.echo("statistics rollup rebuilt from the ledger")


@app.command("fold-stats")
def fold_stats() -> None:
    """Fold every delta still waiting into the statistics rollup now (the background process does it each second)."""
    from services.market.settings import MarketSettings
    from services.market.stats.fold import fold_all
    from shared.db import create_engine, create_sessionmaker

    async def run() -> int:
        settings = MarketSettings()
        engine = create_engine(settings.resolved_database_url)
        try:
            return await fold_all(sessionmaker=create_sessionmaker(engine), batch=settings.stats_fold_batch, wait=True)
        finally:
            await engine.dispose()

    typer.echo(f"folded {asyncio.run(run())} deltas into the statistics rollup")
