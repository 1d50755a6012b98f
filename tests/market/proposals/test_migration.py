"""Migration market_0006: the proposals table with its open-proposal unique indexes, contracts.proposal_id; and back."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import UTCDateTime
from shared.ids import new_id
from tests.market.helpers import migrate_market

PROPOSALS = sa.table(
    "market_proposals",
    sa.column("id", sa.Uuid()),
    sa.column("origin", sa.String()),
    sa.column("status", sa.String()),
    sa.column("broker_org_id", sa.Uuid()),
    sa.column("demand_id", sa.Uuid()),
    sa.column("achievement_id", sa.Uuid()),
    sa.column("seller_org_id", sa.Uuid()),
    sa.column("buyer_org_id", sa.Uuid()),
    sa.column("expires_at", UTCDateTime()),
    sa.column("version", sa.Integer()),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)
BROKER, DEMAND, ACHIEVEMENT, SELLER, BUYER = (uuid.uuid4() for _ in range(5))


def _row(status: str, origin: str = "broker") -> dict[str, Any]:
    now = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    return {
        "id": new_id(),
        "origin": origin,
        "status": status,
        "broker_org_id": BROKER if origin == "broker" else None,
        "demand_id": DEMAND if origin == "broker" else None,
        "achievement_id": ACHIEVEMENT,
        "seller_org_id": SELLER,
        "buyer_org_id": BUYER,
        "expires_at": now + dt.timedelta(days=30),
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }


async def _insert(engine: AsyncEngine, *rows: dict[str, Any]) -> None:
    async with engine.begin() as connection:
        await connection.execute(sa.insert(PROPOSALS), list(rows))


async def _inspect(engine: AsyncEngine) -> tuple[set[str], set[str]]:
    def read(sync: Any) -> tuple[set[str], set[str]]:
        inspector = sa.inspect(sync)
        return set(inspector.get_table_names()), {c["name"] for c in inspector.get_columns("contracts")}

    async with engine.connect() as connection:
        return await connection.run_sync(read)


async def test_open_proposals_are_unique_and_the_migration_reverts(empty_engine: AsyncEngine) -> None:
    await migrate_market(empty_engine, "upgrade", "market_0005")
    await migrate_market(empty_engine, "upgrade", "heads")
    tables, contract_columns = await _inspect(empty_engine)
    assert "market_proposals" in tables
    assert "proposal_id" in contract_columns

    # History does not block: one open proposal beside declined, withdrawn, expired and agreed ones.
    await _insert(empty_engine, *(_row(s) for s in ("declined", "withdrawn", "expired", "agreed", "proposed")))
    for status in ("proposed", "seller_accepted", "buyer_accepted"):
        with pytest.raises(IntegrityError):
            await _insert(empty_engine, _row(status))
    await _insert(empty_engine, _row("buyer_accepted", "interest"), _row("agreed", "interest"))
    with pytest.raises(IntegrityError):
        await _insert(empty_engine, _row("buyer_accepted", "interest"))

    await migrate_market(empty_engine, "downgrade", "market_0005")
    tables, contract_columns = await _inspect(empty_engine)
    assert "market_proposals" not in tables
    assert "proposal_id" not in contract_columns
    assert "contracts" in tables  # the contracts branch stays where it was
