"""Migration contracts_0002 keeps the statistics: sharded cells are summed into one row per key, and back."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.market.helpers import migrate_market

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


async def _cells(engine: AsyncEngine) -> list[tuple[int, ...]]:
    query = "SELECT contracts, contract_amount_fen, technology_amount_fen FROM contract_stat_cells"
    async with engine.connect() as connection:
        return [tuple(row) for row in (await connection.execute(sa.text(query))).all()]


async def test_shards_are_summed_and_restored(empty_engine: AsyncEngine) -> None:
    await migrate_market(empty_engine, "upgrade", "contracts_0001")
    insert = sa.text(
        "INSERT INTO contract_stat_cells (level, period, shard, seller_region, buyer_region, kind, subkind, "
        "technical_field, seller_entity_type, flow, office_id, broker_path, contracts, contract_amount_fen, "
        "technology_amount_fen) VALUES (:level, :period, :shard, :seller_region, :buyer_region, :kind, :subkind, "
        ":technical_field, :seller_entity_type, :flow, :office_id, :broker_path, :n, :amount, :technology)"
    )
    async with empty_engine.begin() as connection:
        await connection.execute(insert, {**KEY, "shard": 0, "n": 2, "amount": 300, "technology": 30})
        await connection.execute(insert, {**KEY, "shard": 5, "n": 1, "amount": 45, "technology": 4})

    await migrate_market(empty_engine, "upgrade", "heads")
    assert await _cells(empty_engine) == [(3, 345, 34)]
    async with empty_engine.connect() as connection:  # deltas carry the flag now (no rows yet)
        assert (await connection.execute(sa.text("SELECT count(*) FROM contract_deltas WHERE folded"))).scalar() == 0

    await migrate_market(empty_engine, "downgrade", "contracts_0001")
    assert await _cells(empty_engine) == [(3, 345, 34)]
