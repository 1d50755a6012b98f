"""Outbox relay benchmark: `python -m bench.outbox [--undelivered 150000] [--delivered 50000] [--backends sqlite,postgresql]`.

For each backend, one market_outbox table (the model's own, created from its metadata) is loaded with
``--delivered`` delivered events, then ``--undelivered`` undelivered ones (one entity each, all due), and timed with
each index in turn, side by side on the same rows:

- ``before``: ``ix_market_outbox_due (delivered_at, next_attempt_at, seq)`` (up to auth_0005 / market_0013);
- ``after``: ``ix_market_outbox_pending (seq) WHERE delivered_at IS NULL`` (auth_0006 / market_0014).

Each is timed without and then with fresh statistics (ANALYZE), as a database that was never analysed (SQLite's
default here) and one that was. Measured through the repository (shared.outbox.repository.OutboxRepository), in the
relay's transaction shape: ``claim_due`` (batch of 100, FOR UPDATE SKIP LOCKED on PostgreSQL) then
``undelivered_of`` for the batch's entities, rolled back (the backlog stays the same); ``--repeats`` times, median
and max. Then ``--drain`` batches are really marked delivered and committed (the relay's loop without the HTTP
call): batches per second. The plan of each query is printed. Results print as a table; docs/benchmarks.md
"Outbox relay" records a run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.market.outbox.models import OutboxEvent
from shared.db import create_engine
from shared.outbox.repository import OutboxRepository
from tests.support.plans import plan_of

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
TABLE = "market_outbox"
NOW = dt.datetime(2026, 11, 30, 5, 0, tzinfo=dt.UTC)
BATCH = 100
INDEXES = {
    "before": f"CREATE INDEX ix_{TABLE}_due ON {TABLE} (delivered_at, next_attempt_at, seq)",
    "after": f"CREATE INDEX ix_{TABLE}_pending ON {TABLE} (seq) WHERE delivered_at IS NULL",
}


async def load(engine: AsyncEngine, delivered: int, undelivered: int, log: Callable[[str], None]) -> None:
    table = OutboxEvent.__table__  # type: ignore[attr-defined]
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: table.create(sync))
        for index in list(table.indexes):
            if index.name.endswith("_pending"):
                await connection.execute(sa.text(f"DROP INDEX {index.name}"))
    started = time.perf_counter()
    chunk = 10_000
    for start in range(0, delivered + undelivered, chunk):
        rows = [
            {
                "event_id": uuid.uuid4(),
                "event_type": "achievement.upserted",
                "entity_kind": "achievement",
                "entity_id": uuid.uuid4(),
                "version": 1,
                "op": "upsert",
                "payload": {"title": "x" * 40},
                "created_at": NOW,
                "next_attempt_at": NOW,
                "attempts": 0,
                "delivered_at": NOW if i < delivered else None,
            }
            for i in range(start, min(start + chunk, delivered + undelivered))
        ]
        async with engine.begin() as connection:
            await connection.execute(sa.insert(table), rows)
    log(f"  loaded {delivered:,} delivered + {undelivered:,} undelivered in {time.perf_counter() - started:.0f} s")


async def use_index(engine: AsyncEngine, which: str) -> None:
    async with engine.begin() as connection:
        for name in ("due", "pending"):
            await connection.execute(sa.text(f"DROP INDEX IF EXISTS ix_{TABLE}_{name}"))
        await connection.execute(sa.text(INDEXES[which]))


async def analyze(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(sa.text(f"ANALYZE {TABLE}"))


async def time_queries(engine: AsyncEngine, repeats: int, log: Callable[[str], None]) -> dict[str, list[float]]:
    claim_ms: list[float] = []
    check_ms: list[float] = []
    for i in range(repeats):
        async with AsyncSession(engine) as session, session.begin():
            repository = OutboxRepository(session, OutboxEvent)
            started = time.perf_counter()
            claimed = await repository.claim_due(now=NOW, limit=BATCH)
            claimed_at = time.perf_counter()
            entities = sorted({(e.entity_kind, e.entity_id) for e in claimed}, key=str)
            up_to = max(e.seq or 0 for e in claimed)
            undelivered = await repository.undelivered_of(entities=entities, up_to_seq=up_to)
            checked_at = time.perf_counter()
            assert len(claimed) == BATCH, len(claimed)
            assert len(undelivered) == BATCH, len(undelivered)
            if i == 0:
                connection = await session.connection()
                claim_plan = await plan_of(connection, repository.claim_query(now=NOW, limit=BATCH))
                check_plan = await plan_of(connection, repository.undelivered_query(entities=entities, up_to_seq=up_to))
                log("    claim plan: " + " | ".join(line.strip()[:110] for line in claim_plan[:4]))
                log("    check plan: " + " | ".join(line.strip()[:110] for line in check_plan[:3]) + " ...")
            await session.rollback()
        claim_ms.append((claimed_at - started) * 1000)
        check_ms.append((checked_at - claimed_at) * 1000)
    return {"claim": claim_ms, "check": check_ms}


async def drain(engine: AsyncEngine, batches: int) -> float:
    """Batches of BATCH really delivered (claim, check, mark delivered, commit) per second."""
    started = time.perf_counter()
    for _ in range(batches):
        async with AsyncSession(engine) as session, session.begin():
            repository = OutboxRepository(session, OutboxEvent)
            claimed = await repository.claim_due(now=NOW, limit=BATCH)
            entities = sorted({(e.entity_kind, e.entity_id) for e in claimed}, key=str)
            await repository.undelivered_of(entities=entities, up_to_seq=max(e.seq or 0 for e in claimed))
            await repository.mark_delivered([e.seq for e in claimed if e.seq is not None], at=NOW)
    return batches / (time.perf_counter() - started)


async def run_backend(backend: str, args: argparse.Namespace, log: Callable[[str], None]) -> list[dict[str, Any]]:
    admin: asyncpg.Connection | None = None
    name = f"bench_outbox_{uuid.uuid4().hex[:8]}"
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp(prefix='bench-outbox-')) / 'market.db'}"
    else:
        pg = make_url(args.pg_url)
        admin = await asyncpg.connect(pg.set(drivername="postgresql").render_as_string(hide_password=False))
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = pg.set(drivername="postgresql+asyncpg", database=name).render_as_string(hide_password=False)
    engine = create_engine(url)
    results: list[dict[str, Any]] = []
    try:
        log(f"[{backend}]")
        await load(engine, args.delivered, args.undelivered, log)
        for which in ("before", "after"):
            await use_index(engine, which)
            for analysed in (False, True):
                if analysed:
                    await analyze(engine)
                log(f"  {which}, {'ANALYZE' if analysed else 'no statistics'} (load average {os.getloadavg()})")
                times = await time_queries(engine, args.repeats, log)
                rate = await drain(engine, args.drain)
                results.append({"backend": backend, "index": which, "analysed": analysed, **times, "drain": rate})
                if backend == "sqlite" and not analysed:
                    async with engine.begin() as connection:  # forget any statistics before the next index
                        await connection.execute(sa.text("DROP TABLE IF EXISTS sqlite_stat1"))
            if backend == "sqlite":
                async with engine.begin() as connection:
                    await connection.execute(sa.text("DROP TABLE IF EXISTS sqlite_stat1"))
    finally:
        await engine.dispose()
        if admin is not None:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
    return results


def summary(results: list[dict[str, Any]]) -> str:
    lines = [
        "| backend | index | statistics | claim_due median / max ms | undelivered_of median / max ms | drain batches/s |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        claim, check = r["claim"], r["check"]
        lines.append(
            f"| {r['backend']} | {r['index']} | {'ANALYZE' if r['analysed'] else 'none'} "
            f"| {statistics.median(claim):.1f} / {max(claim):.1f} | {statistics.median(check):.1f} / {max(check):.1f} "
            f"| {r['drain']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--undelivered", type=int, default=150_000)
    parser.add_argument("--delivered", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=20, help="claims timed (rolled back) per configuration")
    parser.add_argument("--drain", type=int, default=10, help="batches really delivered per configuration")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG))
    args = parser.parse_args()

    def log(message: str) -> None:
        print(message, flush=True)

    log(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; load average {os.getloadavg()}"
    )
    results: list[dict[str, Any]] = []
    for backend in (b.strip() for b in args.backends.split(",") if b.strip()):
        results += asyncio.run(run_backend(backend, args, log))
    log("")
    log(summary(results))


if __name__ == "__main__":
    main()
