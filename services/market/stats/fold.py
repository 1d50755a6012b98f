"""The fold: moving contract deltas from the unfolded tail of the ledger into the rollup cells.

Registrations, amendments and revocations append their delta unfolded (one narrow insert instead of ~90 cell
upserts in the request); the background process (``fold_forever``, started by services.market.worker) folds them
in batches, each batch one transaction that adds the deltas to every level and grain and flags them folded. A bulk
import folds its own deltas in its transaction (``fold_import``, handed to the import by the app factory and the
CLI). Queries add the unfolded tail themselves, so the statistics are exact whether or not the fold has run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.market.stats.cube import cell_rows
from services.market.stats.repository import StatsRepository

__all__ = ["fold_all", "fold_forever", "fold_import", "fold_pending", "rebuild", "unfolded"]

logger = logging.getLogger("techmarket.market.stats.fold")


async def fold_pending(*, session: AsyncSession, limit: int = 2000, wait: bool = False) -> int:
    """Add up to ``limit`` unfolded deltas to every level and grain and flag them folded; returns how many.

    Being one transaction, it moves each delta from the unfolded tail into the cells atomically. Folds take turns
    (``wait`` false: give up at once, returning 0, when another fold runs).
    """
    repo = StatsRepository.from_session(session)
    if not await repo.lock_folds(wait=wait):
        return 0
    facts = await repo.take_unfolded(limit)
    await repo.add_cells(cell_rows(facts))
    return len(facts)


async def fold_all(*, sessionmaker: async_sessionmaker[AsyncSession], batch: int, wait: bool = False) -> int:
    """Fold unfolded contract deltas into the rollup, ``batch`` per transaction, until none is left; returns how many.

    With ``wait`` false a round stops as soon as another process's fold holds the lock (it is doing the work).
    """
    folded = 0
    while True:
        async with sessionmaker() as session, session.begin():
            done = await fold_pending(session=session, limit=batch, wait=wait)
        folded += done
        if done < batch:
            return folded


async def fold_forever(
    *, sessionmaker: async_sessionmaker[AsyncSession], interval: float, batch: int, stop: asyncio.Event
) -> None:
    """Fold new contract deltas every ``interval`` seconds until ``stop``."""
    while not stop.is_set():
        try:
            await fold_all(sessionmaker=sessionmaker, batch=batch)
        except Exception:  # a failed round is retried; the statistics stay exact meanwhile (queries add the tail)
            logger.exception("statistics fold failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


async def unfolded(*, session: AsyncSession) -> int:
    """How many deltas wait for the fold (a health figure: queries stay exact, only slower, as it grows)."""
    return await StatsRepository.from_session(session).count_unfolded()


async def fold_import(*, session: AsyncSession, import_id: uuid.UUID) -> None:
    """Add every delta of one bulk import to the rollup in SQL (one grouped upsert per level and grain).

    The import stores its deltas folded: they reach the cells in this same transaction.
    """
    repo = StatsRepository.from_session(session)
    await repo.lock_folds(wait=True)
    await repo.fold_ledger(import_id=import_id)


async def rebuild(*, session: AsyncSession) -> None:
    """Recompute the whole rollup from the ledger (operations; the benchmark loader)."""
    repo = StatsRepository.from_session(session)
    await repo.lock_folds(wait=True)
    await repo.lock_ledger()
    await repo.mark_all_folded()
    await repo.clear_cells()
    await repo.fold_ledger()
