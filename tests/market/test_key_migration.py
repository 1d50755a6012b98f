"""Migration market_0004: external_id (unique per owner) and natural keys recomputed by the new rule, and back."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.market.listings.keys import natural_key
from shared.db import UTCDateTime
from shared.ids import new_id
from tests.market.helpers import migrate_market

ACHIEVEMENTS = sa.table(
    "market_achievements",
    sa.column("id", sa.Uuid()),
    sa.column("owner_org_id", sa.Uuid()),
    sa.column("owner_org_path", sa.String()),
    sa.column("owner_org_kind", sa.String()),
    sa.column("created_by", sa.String()),
    sa.column("title", sa.String()),
    sa.column("summary", sa.String()),
    sa.column("technical_field", sa.String()),
    sa.column("keywords", sa.JSON()),
    sa.column("region_code", sa.String()),
    sa.column("status", sa.String()),
    sa.column("version", sa.Integer()),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
    sa.column("ipc_codes", sa.JSON()),
    sa.column("patents", sa.JSON()),
    sa.column("ip_type", sa.String()),
    sa.column("transfer_modes", sa.JSON()),
    sa.column("price_kind", sa.String()),
    sa.column("inventors", sa.JSON()),
    sa.column("natural_key", sa.String()),
)
SUMMARY_1 = "具有孔部的吸收性物品在抑制吸收性聚合物从孔部溢出的同时兼顾吸收容量和较高的吸收速度。"
SUMMARY_2 = "提供一种吸收性物品，即使在穿着中吸收性物品发生侧移，也能控制尿的流动方向。"
PATENT = "202223220665.2"


def _row(owner: uuid.UUID, title: str, summary: str | None, key: str, patents: list[Any]) -> dict[str, Any]:
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    return {
        "id": new_id(),
        "owner_org_id": owner,
        "owner_org_path": f"/{owner}/",
        "owner_org_kind": "university",
        "created_by": "migration-test",
        "title": title,
        "summary": summary,
        "technical_field": "new_materials",
        "keywords": [],
        "region_code": "510100",
        "status": "draft",
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "ipc_codes": [],
        "patents": patents,
        "ip_type": "invention_patent",
        "transfer_modes": [],
        "price_kind": "negotiable",
        "inventors": [],
        "natural_key": key,
    }


async def _keys(engine: AsyncEngine) -> dict[uuid.UUID, str]:
    async with engine.connect() as connection:
        rows = (await connection.execute(sa.select(ACHIEVEMENTS.c.id, ACHIEVEMENTS.c.natural_key))).all()
    return {row.id: row.natural_key for row in rows}


async def _set_external_id(engine: AsyncEngine, row_id: uuid.UUID, value: str | None) -> None:
    # A column of market_0004 only: not in ACHIEVEMENTS, which rows of market_0003 are inserted through.
    table = sa.table("market_achievements", sa.column("id", sa.Uuid()), sa.column("external_id", sa.String()))
    async with engine.begin() as connection:
        await connection.execute(sa.update(table).where(table.c.id == row_id).values(external_id=value))


async def _columns(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        names = await connection.run_sync(
            lambda sync: {c["name"] for c in sa.inspect(sync).get_columns("market_achievements")}
        )
    return set(names)


async def test_keys_are_recomputed_and_external_id_is_unique_per_owner(empty_engine: AsyncEngine) -> None:
    await migrate_market(empty_engine, "upgrade", "market_0003")
    uni, other = new_id(), new_id()
    with_patent = _row(uni, "一种无人机机载多功能盒", None, f"patent:{PATENT}", [{"application_no": PATENT}])
    titled = _row(uni, "吸收性物品", SUMMARY_1, "title:吸收性物品", [])
    bare = _row(uni, "Know-How 甲", None, "title:know-how 甲", [])
    others = _row(other, "吸收性物品", SUMMARY_1, "title:吸收性物品", [])
    async with empty_engine.begin() as connection:
        await connection.execute(sa.insert(ACHIEVEMENTS), [with_patent, titled, bare, others])

    await migrate_market(empty_engine, "upgrade", "heads")
    keys = await _keys(empty_engine)
    assert keys[with_patent["id"]] == f"patent:{PATENT}"  # a patent key does not change
    text_key = natural_key(application_no=None, external_id=None, title="吸收性物品", summary=SUMMARY_1)
    assert keys[titled["id"]] == text_key
    assert keys[others["id"]] == text_key  # the same key of another owner
    assert keys[bare["id"]] == natural_key(application_no=None, external_id=None, title="know-how 甲", summary=None)
    assert all(key.startswith(("patent:", "text:")) for key in keys.values())
    assert "external_id" in await _columns(empty_engine)

    # The same title with another summary is another achievement of the same owner now.
    second = _row(uni, "吸收性物品", SUMMARY_2, "", [])
    second["natural_key"] = natural_key(application_no=None, external_id=None, title="吸收性物品", summary=SUMMARY_2)
    async with empty_engine.begin() as connection:
        await connection.execute(sa.insert(ACHIEVEMENTS), [second])

    # external_id: unique per owner; NULLs (every other row) do not collide; another owner may reuse a value.
    await _set_external_id(empty_engine, with_patent["id"], "SCU-TT-2024-017")
    await _set_external_id(empty_engine, others["id"], "SCU-TT-2024-017")
    with pytest.raises(IntegrityError):
        await _set_external_id(empty_engine, titled["id"], "SCU-TT-2024-017")

    # Downgrading would drop the references and merge the two 吸收性物品 keys: refused, nothing changed.
    with pytest.raises(RuntimeError, match="external_id"):
        await migrate_market(empty_engine, "downgrade", "market_0003")
    await _set_external_id(empty_engine, with_patent["id"], None)
    await _set_external_id(empty_engine, others["id"], None)
    with pytest.raises(RuntimeError, match="natural key"):
        await migrate_market(empty_engine, "downgrade", "market_0003")
    assert await _keys(empty_engine) == {**keys, second["id"]: second["natural_key"]}

    async with empty_engine.begin() as connection:
        await connection.execute(sa.delete(ACHIEVEMENTS).where(ACHIEVEMENTS.c.id == second["id"]))
    await migrate_market(empty_engine, "downgrade", "market_0003")
    assert await _keys(empty_engine) == {
        with_patent["id"]: f"patent:{PATENT}",
        titled["id"]: "title:吸收性物品",
        bare["id"]: "title:know-how 甲",
        others["id"]: "title:吸收性物品",
    }
    assert "external_id" not in await _columns(empty_engine)

    await migrate_market(empty_engine, "upgrade", "heads")
    assert await _keys(empty_engine) == keys
