"""Migration contracts_0002 keeps the statistics: sharded cells are summed into one row per key, and back."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from services.market.app import SPEC as MARKET_SPEC
from shared.db import create_engine
from shared.migrations import alembic_config
from tests.support.databases import postgres_url_from_env

KEY = {
    "level": 0,
    "period": 2025,
    "seller_region": "",
    "buyer_region": "",
    "kind": "",
    "subkind": "",
    "technical_field": "",
    "seller_entity_type": "",
    "flow": "",
    "office_id": "",
    "broker_path": "",
}


@pytest.fixture
async def empty_engine(backend: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An engine on an empty database of the test's backend."""
    if backend == "sqlite":
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'market.db'}")
        yield engine
        await engine.dispose()
        return
    url = make_url(postgres_url_from_env() or "")
    name = f"tmt_migration_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
    await admin.execute(f'CREATE DATABASE "{name}"')
    engine = create_engine(url.set(database=name).render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        await engine.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _migrate(engine: AsyncEngine, action: str, revision: str) -> None:
    config = alembic_config(MARKET_SPEC.migrations, "alembic_version_market")

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)


async def _cells(engine: AsyncEngine) -> list[tuple[int, ...]]:
    query = "SELECT contracts, contract_amount_fen, technology_amount_fen FROM contract_stat_cells"
    async with engine.connect() as connection:
        return [tuple(row) for row in (await connection.execute(sa.text(query))).all()]


async def test_shards_are_summed_and_restored(empty_engine: AsyncEngine) -> None:
    await _migrate(empty_engine, "upgrade", "contracts_0001")
    insert = sa.text(
        "INSERT INTO contract_stat_cells (level, period, shard, seller_region, buyer_region, kind, subkind, "
        "technical_field, seller_entity_type, flow, office_id, broker_path, contracts, contract_amount_fen, "
        "technology_amount_fen) VALUES (:level, :period, :shard, :seller_region, :buyer_region, :kind, :subkind, "
        ":technical_field, :seller_entity_type, :flow, :office_id, :broker_path, :n, :amount, :technology)"
    )
    async with empty_engine.begin() as connection:
        await connection.execute(insert, {**KEY, "shard": 0, "n": 2, "amount": 300, "technology": 30})
        await connection.execute(insert, {**KEY, "shard": 5, "n": 1, "amount": 45, "technology": 4})

    await _migrate(empty_engine, "upgrade", "heads")
    assert await _cells(empty_engine) == [(3, 345, 34)]
    async with empty_engine.connect() as connection:  # deltas carry the flag now (no rows yet)
        assert (await connection.execute(sa.text("SELECT count(*) FROM contract_deltas WHERE folded"))).scalar() == 0

    await _migrate(empty_engine, "downgrade", "contracts_0001")
    assert await _cells(empty_engine) == [(3, 345, 34)]
