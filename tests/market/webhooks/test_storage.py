"""Migration market_0010 (both backends, and back), and the claim of due deliveries by concurrent workers on
PostgreSQL (FOR UPDATE SKIP LOCKED)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.market.webhooks.models import WebhookDelivery, WebhookEndpoint
from services.market.webhooks.repository import WebhookRepository
from shared.db import create_sessionmaker
from tests.market.helpers import migrate_market

TABLES = {"webhook_endpoints", "webhook_deliveries", "webhook_attempts"}
NOW = dt.datetime(2026, 11, 30, 1, 0, tzinfo=dt.UTC)


async def _tables(engine: AsyncEngine) -> set[str]:
    def read(sync: Any) -> set[str]:
        return set(sa.inspect(sync).get_table_names())

    async with engine.connect() as connection:
        return await connection.run_sync(read)


async def test_the_migration_creates_the_tables_and_reverts(empty_engine: AsyncEngine) -> None:
    await migrate_market(empty_engine, "upgrade", "heads")
    assert await _tables(empty_engine) >= TABLES
    await migrate_market(empty_engine, "downgrade", "market_0008")
    tables = await _tables(empty_engine)
    assert not TABLES & tables
    assert "notifications" in tables


async def _seed(engine: AsyncEngine, count: int) -> None:
    sessionmaker = create_sessionmaker(engine)
    async with sessionmaker() as session, session.begin():
        endpoint = WebhookEndpoint(
            org_id=uuid.uuid4(),
            url="http://127.0.0.1:9/x",
            event_types=["webhook.test"],
            secret="whsec_AAAA",
            created_by="t",
            created_at=NOW,
            updated_at=NOW,
        )
        session.add(endpoint)
        await session.flush()
        session.add_all(
            WebhookDelivery(
                endpoint_id=endpoint.id, event_type="webhook.test", payload="{}", created_at=NOW, next_attempt_at=NOW
            )
            for _ in range(count)
        )


@pytest.mark.postgres_only
async def test_concurrent_claims_take_disjoint_batches(backend: str, empty_engine: AsyncEngine) -> None:
    if backend != "postgresql":
        pytest.skip("row locks: PostgreSQL only (SQLite serializes writers; the lease alone separates rounds)")
    await migrate_market(empty_engine, "upgrade", "heads")
    await _seed(empty_engine, 6)
    sessionmaker = create_sessionmaker(empty_engine)
    first_claimed = asyncio.Event()
    release = asyncio.Event()

    async def worker(wait_first: bool) -> set[uuid.UUID]:
        async with sessionmaker() as session, session.begin():
            if wait_first:
                await first_claimed.wait()
            rows = await WebhookRepository(session).claim_due(
                now=NOW, lease_until=NOW + dt.timedelta(minutes=1), limit=4
            )
            if not wait_first:
                first_claimed.set()
                await release.wait()  # hold the row locks while the other worker claims
            return {d.id for d, _ in rows}

    holder = asyncio.create_task(worker(wait_first=False))
    other = await asyncio.wait_for(worker(wait_first=True), timeout=10)  # not blocked by the held locks
    release.set()
    held = await holder
    assert (len(held), len(other)) == (4, 2)
    assert not held & other
    # Leased: a later round before the lease ends finds nothing due.
    async with sessionmaker() as session, session.begin():
        assert await WebhookRepository(session).claim_due(now=NOW, lease_until=NOW, limit=10) == []
