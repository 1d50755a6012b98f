"""`techmarket contracts import` and `rebuild-stats` against a real database (sync tests: the CLI runs its own loop)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from services.cli import app
from services.market.contracts.models import contracts_table, deltas_table
from services.market.offices.models import offices_table
from services.market.stats.models import cells_table
from shared.db import create_engine
from shared.ids import new_id
from tests.conftest import Databases
from tests.market.contracts.test_import import import_row, to_csv


async def _scalar(url: str, query: sa.Select[tuple[int]]) -> int:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(query)).scalar_one() or 0)
    finally:
        await engine.dispose()


async def _execute(url: str, *statements: Any) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            for statement in statements:
                await connection.execute(statement)
    finally:
        await engine.dispose()


async def _add_office(url: str) -> str:
    office = new_id()
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                sa.insert(offices_table).values(
                    id=office,
                    region_code="510100",
                    region_prefix="5101",
                    name="成都",
                    active=True,
                    created_by="test",
                    created_at=dt.datetime.now(dt.UTC),
                )
            )
    finally:
        await engine.dispose()
    return str(office)


class TestImportCommand:
    def test_imports_reports_and_is_idempotent(
        self, databases: Databases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        url = databases.urls["market"]
        monkeypatch.setenv("MARKET_DATABASE_URL", url)
        office = asyncio.run(_add_office(url))
        source = tmp_path / "history.csv"
        source.write_bytes(to_csv([import_row(), import_row(), import_row(kind="barter")]))
        report = tmp_path / "report.csv"
        runner = CliRunner()
        first = runner.invoke(app, ["contracts", "import", str(source), "--office-id", office, "--report", str(report)])
        assert first.exit_code == 2, first.output  # one row failed
        assert "3 rows: 2 imported, 0 duplicates, 1 failed" in first.output
        assert "kind" in report.read_text(encoding="utf-8-sig")
        second = runner.invoke(app, ["contracts", "import", str(source), "--office-id", office])
        assert "0 imported, 2 duplicates, 1 failed" in second.output
        assert asyncio.run(_scalar(url, sa.select(sa.func.count()).select_from(contracts_table))) == 2
        before = asyncio.run(_scalar(url, sa.select(sa.func.sum(cells_table.c.contract_amount_fen))))
        rebuilt = runner.invoke(app, ["contracts", "rebuild-stats"])
        assert rebuilt.exit_code == 0, rebuilt.output
        assert asyncio.run(_scalar(url, sa.select(sa.func.sum(cells_table.c.contract_amount_fen)))) == before > 0

        # Deltas waiting for the fold (as registrations leave them): fold-stats moves them into the cells.
        asyncio.run(_execute(url, sa.update(deltas_table).values(folded=False), sa.delete(cells_table)))
        folded = runner.invoke(app, ["contracts", "fold-stats"])
        assert folded.exit_code == 0, folded.output
        assert "folded 2 deltas" in folded.output
        assert asyncio.run(_scalar(url, sa.select(sa.func.sum(cells_table.c.contract_amount_fen)))) == before
        unfolded = sa.select(sa.func.count()).select_from(deltas_table).where(sa.not_(deltas_table.c.folded))
        assert asyncio.run(_scalar(url, unfolded)) == 0

    def test_bad_file_stores_nothing(
        self, databases: Databases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        url = databases.urls["market"]
        monkeypatch.setenv("MARKET_DATABASE_URL", url)
        source = tmp_path / "bad.csv"
        source.write_text("colour\nred\n", encoding="utf-8")
        result = CliRunner().invoke(app, ["contracts", "import", str(source)])
        assert result.exit_code == 1
        assert "nothing stored" in result.output
        assert asyncio.run(_scalar(url, sa.select(sa.func.count()).select_from(contracts_table))) == 0
