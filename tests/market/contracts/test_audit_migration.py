"""Migration market_0015: contract history moves into the market audit trail with its ids; and back."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import UTCDateTime
from shared.ids import new_id
from tests.market.contracts.test_verification_migration import NOW, insert_office_and_contract
from tests.market.helpers import migrate_market

_COMMON = ("action", "from_status", "to_status", "actor_subject", "request_id")
EVENTS = sa.table(
    "contract_events",
    sa.column("id", sa.Uuid()),
    sa.column("contract_id", sa.Uuid()),
    *(sa.column(n) for n in _COMMON),
    sa.column("actor_org_id", sa.Uuid()),
    sa.column("detail", sa.JSON()),
    sa.column("created_at", UTCDateTime()),
)
AUDIT = sa.table(
    "market_audit_events",
    sa.column("id", sa.Uuid()),
    sa.column("entity_kind"),
    sa.column("entity_id", sa.Uuid()),
    *(sa.column(n) for n in _COMMON),
    sa.column("actor_org_id", sa.Uuid()),
    sa.column("details", sa.JSON()),
    sa.column("occurred_at", UTCDateTime()),
)


async def _rows(engine: AsyncEngine, query: sa.Select[Any]) -> list[tuple[Any, ...]]:
    async with engine.connect() as connection:
        return [tuple(row) for row in (await connection.execute(query)).all()]


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names()))


async def test_contract_events_move_to_the_audit_trail_and_back(empty_engine: AsyncEngine) -> None:
    await migrate_market(empty_engine, "upgrade", "market_0014")
    office_id, contract_id, org_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await insert_office_and_contract(empty_engine, office_id=office_id, contract_id=contract_id, status="rejected")
    async with empty_engine.begin() as connection:
        submitted = (new_id(), contract_id, "submit", None, "submitted", "someone", "req-1", None, {}, NOW)
        rejected = (new_id(), contract_id, "reject", "submitted", "rejected", "registrar", None, org_id, {"r": 1}, NOW)
        names = ("id", "contract_id", *_COMMON, "actor_org_id", "detail", "created_at")
        await connection.execute(sa.insert(EVENTS), [dict(zip(names, e, strict=True)) for e in (submitted, rejected)])

    await migrate_market(empty_engine, "upgrade", "heads")
    assert "contract_events" not in await _tables(empty_engine)
    audit = await _rows(
        empty_engine,
        sa.select(
            AUDIT.c.id,
            AUDIT.c.entity_id,
            *(AUDIT.c[n] for n in _COMMON),
            AUDIT.c.actor_org_id,
            AUDIT.c.details,
            AUDIT.c.occurred_at,
        )
        .where(AUDIT.c.entity_kind == "contract")
        .order_by(AUDIT.c.id),
    )
    assert audit == [submitted, rejected]  # same ids: the cursors of GET …/events stay valid

    await migrate_market(empty_engine, "downgrade", "market_0014")
    assert await _rows(empty_engine, sa.select(EVENTS).order_by(EVENTS.c.id)) == [submitted, rejected]
    assert await _rows(empty_engine, sa.select(AUDIT.c.id).where(AUDIT.c.entity_kind == "contract")) == []
