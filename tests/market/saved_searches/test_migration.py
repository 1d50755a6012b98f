"""Migration market_0009: the saved-search tables and market_demands.match_alerts (existing demands: on); and back."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import UTCDateTime
from shared.ids import new_id
from tests.market.helpers import migrate_market

TABLES = {"saved_searches", "match_alert_jobs", "saved_search_hits", "demand_match_alerts"}
DEMANDS = sa.table(
    "market_demands",
    *(sa.column(name, sa.String()) for name in ("owner_org_path", "owner_org_kind", "created_by", "title")),
    *(sa.column(name, sa.String()) for name in ("technical_field", "region_code", "status", "budget_kind")),
    sa.column("id", sa.Uuid()),
    sa.column("owner_org_id", sa.Uuid()),
    sa.column("keywords", sa.JSON()),
    sa.column("cooperation_modes", sa.JSON()),
    sa.column("version", sa.Integer()),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)


def _demand() -> dict[str, Any]:
    now = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    owner = uuid.uuid4()
    return {
        "id": new_id(),
        "owner_org_id": owner,
        "owner_org_path": f"/{owner}/",
        "owner_org_kind": "enterprise",
        "created_by": "user-1",
        "title": "锂电池极片缺陷在线检测",
        "technical_field": "new_energy",
        "region_code": "510100",
        "status": "published",
        "budget_kind": "negotiable",
        "keywords": [],
        "cooperation_modes": [],
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }


async def _state(engine: AsyncEngine) -> tuple[set[str], set[str]]:
    def read(sync: Any) -> tuple[set[str], set[str]]:
        inspector = sa.inspect(sync)
        return set(inspector.get_table_names()), {c["name"] for c in inspector.get_columns("market_demands")}

    async with engine.connect() as connection:
        return await connection.run_sync(read)


async def test_upgrade_and_downgrade(empty_engine: AsyncEngine) -> None:
    await migrate_market(empty_engine, "upgrade", "market_0008")
    async with empty_engine.begin() as connection:
        await connection.execute(sa.insert(DEMANDS), [_demand()])
    await migrate_market(empty_engine, "upgrade", "market_0009")
    tables, columns = await _state(empty_engine)
    assert tables >= TABLES
    assert "match_alerts" in columns
    async with empty_engine.connect() as connection:
        values = (await connection.execute(sa.text("SELECT match_alerts FROM market_demands"))).scalars().all()
    assert [bool(v) for v in values] == [True]  # existing open demands keep alerting their owners
    await migrate_market(empty_engine, "downgrade", "market_0008")
    tables, columns = await _state(empty_engine)
    assert not TABLES & tables
    assert "match_alerts" not in columns
