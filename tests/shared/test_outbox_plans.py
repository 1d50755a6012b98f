"""The outbox relay's two queries stay bounded by the batch, not the backlog: checked on the planner's plans.

A migrated outbox table (auth's and market's) gets 5,000 delivered and 5,000 undelivered events, statistics are
refreshed (ANALYZE), and the plans of the repository's own statements must be: the claim read in seq order from
``ix_<table>_pending`` (no sort: SQLite's "USE TEMP B-TREE FOR ORDER BY", PostgreSQL's Sort node); the in-order check
searched per entity on ``ix_<table>_entity`` (no scan of the backlog). The migration's downgrade restores the old
index. docs/benchmarks.md "Outbox relay" has the numbers behind it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.auth.app import SPEC as AUTH_SPEC
from services.auth.outbox.models import AuthOutboxEvent
from services.market.app import SPEC as MARKET_SPEC
from services.market.outbox.models import OutboxEvent
from shared.migrations import alembic_config
from shared.outbox.models import OutboxEventFields
from shared.outbox.repository import OutboxRepository
from tests.market.conftest import empty_engine  # noqa: F401  (the fixture: an empty database of the backend)
from tests.support.plans import plan_of

NOW = dt.datetime(2026, 11, 30, 5, 0, tzinfo=dt.UTC)
DELIVERED = 5_000
UNDELIVERED = 5_000

# service -> (model, migrations, version table, the revision before the pending index)
SERVICES: dict[str, tuple[type[OutboxEventFields], Any, str, str]] = {
    "auth": (AuthOutboxEvent, AUTH_SPEC.migrations, "alembic_version_auth", "auth_0005"),
    "market": (OutboxEvent, MARKET_SPEC.migrations, "alembic_version_market", "market_0013"),
}


async def _migrate(engine: AsyncEngine, service: str, action: str, revision: str) -> None:
    _, migrations, version_table, _ = SERVICES[service]
    config = alembic_config(migrations, version_table)

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)


async def _indexes(engine: AsyncEngine, table: str) -> dict[str, list[str | None]]:
    async with engine.connect() as connection:
        found = await connection.run_sync(lambda sync: sa.inspect(sync).get_indexes(table))
    return {str(index["name"]): list(index["column_names"]) for index in found}


async def _fill(engine: AsyncEngine, model: type[OutboxEventFields]) -> list[uuid.UUID]:
    """DELIVERED delivered events, then UNDELIVERED undelivered ones (one entity each); the undelivered ids."""
    table = model.__table__  # type: ignore[attr-defined]
    ids = [uuid.uuid4() for _ in range(DELIVERED + UNDELIVERED)]
    rows: list[dict[str, Any]] = [
        {
            "event_id": uuid.uuid4(),
            "event_type": "achievement.upserted",
            "entity_kind": "achievement",
            "entity_id": entity_id,
            "version": 1,
            "op": "upsert",
            "payload": {},
            "created_at": NOW,
            "next_attempt_at": NOW,
            "attempts": 0,
            "delivered_at": NOW if i < DELIVERED else None,
        }
        for i, entity_id in enumerate(ids)
    ]
    async with engine.begin() as connection:
        await connection.execute(sa.insert(table), rows)
        await connection.execute(sa.text(f"ANALYZE {table.name}"))
    return ids[DELIVERED:]


async def _plans(
    engine: AsyncEngine, model: type[OutboxEventFields], undelivered: list[uuid.UUID]
) -> tuple[list[str], list[str]]:
    """The plans of the relay's claim (batch of 100) and of its in-order check (100 entities)."""
    async with AsyncSession(engine) as session:
        repository = OutboxRepository(session, model)
        claim = repository.claim_query(now=NOW, limit=100)
        entities = [("achievement", entity_id) for entity_id in undelivered[:100]]
        check = repository.undelivered_query(entities=entities, up_to_seq=DELIVERED + 100)
        connection = await session.connection()
        return await plan_of(connection, claim), await plan_of(connection, check)


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_relay_queries_do_not_sort_or_scan_the_backlog(
    empty_engine: AsyncEngine,  # noqa: F811
    service: str,
) -> None:
    model = SERVICES[service][0]
    table = model.__table__.name  # type: ignore[attr-defined]
    await _migrate(empty_engine, service, "upgrade", "heads")
    undelivered = await _fill(empty_engine, model)
    claim, check = await _plans(empty_engine, model, undelivered)
    pending, entity = f"ix_{table}_pending", f"ix_{table}_entity"

    if empty_engine.dialect.name == "sqlite":
        assert claim == [f"SCAN {table} USING INDEX {pending}"], claim
        searches = [line for line in check if line.startswith(("SEARCH", "SCAN"))]
        assert searches, check
        assert all(line.startswith(f"SEARCH {table} USING INDEX {entity} (") for line in searches), check
        assert not any("TEMP B-TREE" in line for line in check), check
    else:
        text = "\n".join(claim)
        assert f"Index Scan using {pending} on {table}" in text, text
        assert "Sort" not in text, text
        assert "Seq Scan" not in text, text
        text = "\n".join(check)
        # Either the entities' index, or the pending index cut at ``seq <= up_to_seq``: the pending entries before the
        # batch's last seq are the batch itself and the not-yet-due ones before it (leased, backing off: at most
        # the backoff cap's worth of rounds), never the backlog behind the batch.
        assert entity in text or "Index Cond: (seq <= " in text, text
        assert "Seq Scan" not in text, text
        assert "Sort" not in text, text


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_migration_swaps_the_due_index_and_back(
    empty_engine: AsyncEngine,  # noqa: F811
    service: str,
) -> None:
    model, _, _, before = SERVICES[service]
    table = model.__table__.name  # type: ignore[attr-defined]
    await _migrate(empty_engine, service, "upgrade", before)
    assert _indexes_without_unique(await _indexes(empty_engine, table)) == {
        f"ix_{table}_due": ["delivered_at", "next_attempt_at", "seq"],
        f"ix_{table}_entity": ["entity_kind", "entity_id", "seq"],
    }
    await _migrate(empty_engine, service, "upgrade", "heads")
    assert _indexes_without_unique(await _indexes(empty_engine, table)) == {
        f"ix_{table}_pending": ["seq"],
        f"ix_{table}_entity": ["entity_kind", "entity_id", "seq"],
    }
    await _migrate(empty_engine, service, "downgrade", before)
    assert f"ix_{table}_due" in await _indexes(empty_engine, table)
    assert f"ix_{table}_pending" not in await _indexes(empty_engine, table)


def _indexes_without_unique(indexes: dict[str, list[str | None]]) -> dict[str, list[str | None]]:
    """The named indexes, without the unique constraint's own (event_id), whose name differs by backend."""
    return {name: columns for name, columns in indexes.items() if columns != ["event_id"]}
