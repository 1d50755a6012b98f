"""The statistics fold: a request's delta counts at once (the unfolded tail), and the fold moves it into the rollup
cells exactly once — by hand, in the background loop and from the CLI."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa

from services.market.stats import fold as stats_fold
from services.market.stats.fold import fold_all, fold_forever
from services.market.stats.models import cells_table
from shared.clock import today_in_china
from tests.conftest import Stack
from tests.market.contracts.factories import ensure_office, register, registrar, seller, submit
from tests.support.actors import Actor, Actors


async def _unfolded(stack: Stack) -> int:
    async with stack.service_app("market").state.sessionmaker() as session:
        return await stats_fold.unfolded(session=session)


async def _year_total_in_cells(stack: Stack) -> tuple[int, int, int]:
    c = cells_table.c
    query = sa.select(
        sa.func.sum(c.contracts), sa.func.sum(c.contract_amount_fen), sa.func.sum(c.technology_amount_fen)
    )
    async with stack.service_app("market").state.engine.connect() as connection:
        row = (await connection.execute(query.where(c.level == 0, c.period == today_in_china().year))).one()
    return (int(row[0] or 0), int(row[1] or 0), int(row[2] or 0))


async def _total(stack: Stack, who: Actor) -> tuple[int, int, int]:
    response = await stack.client.get("/market/stats/contracts", headers=who.headers)
    assert response.status_code == 200, response.text
    total: dict[str, Any] = response.json()["total"]
    return (total["count"], total["contract_amount_fen"], total["technology_amount_fen"])


async def _registered(stack: Stack, actors: Actors, n: int) -> Actor:
    office = await registrar(actors)
    await ensure_office(stack, office)
    s = await seller(actors)
    for i in range(n):
        contract = await submit(stack, s, contract_amount_fen=1_000 * (i + 1), technology_amount_fen=10 * (i + 1))
        await register(stack, office, contract["id"])
    return office


class TestFold:
    async def test_a_registration_counts_before_and_after_the_fold(self, stack: Stack, actors: Actors) -> None:
        office = await _registered(stack, actors, 3)
        expected = (3, 6_000, 60)
        assert await _unfolded(stack) == 3
        assert await _year_total_in_cells(stack) == (0, 0, 0)
        assert await _total(stack, office) == expected  # the unfolded tail is counted

        sessionmaker = stack.service_app("market").state.sessionmaker
        async with sessionmaker() as session, session.begin():
            assert await stats_fold.fold_pending(session=session, limit=2) == 2
        assert await _unfolded(stack) == 1
        assert await _total(stack, office) == expected  # two in the cells, one in the tail: no double count

        assert await fold_all(sessionmaker=sessionmaker, batch=2) == 1
        assert await _unfolded(stack) == 0
        assert await _year_total_in_cells(stack) == expected
        assert await _total(stack, office) == expected
        assert await fold_all(sessionmaker=sessionmaker, batch=2) == 0  # nothing left: folding again changes nothing
        assert await _year_total_in_cells(stack) == expected

    async def test_a_failed_fold_leaves_its_deltas_unfolded(self, stack: Stack, actors: Actors) -> None:
        office = await _registered(stack, actors, 2)
        sessionmaker = stack.service_app("market").state.sessionmaker
        async with sessionmaker() as session, session.begin():
            assert await stats_fold.fold_pending(session=session, limit=10) == 2
            await session.rollback()  # cells and flags go together
        assert await _unfolded(stack) == 2
        assert await _year_total_in_cells(stack) == (0, 0, 0)
        assert await _total(stack, office) == (2, 3_000, 30)

    async def test_the_background_loop_folds_new_deltas(self, stack: Stack, actors: Actors) -> None:
        stop = asyncio.Event()
        loop = asyncio.create_task(
            fold_forever(sessionmaker=stack.service_app("market").state.sessionmaker, interval=0.02, batch=1, stop=stop)
        )
        try:
            await _registered(stack, actors, 2)
            for _ in range(250):
                if await _unfolded(stack) == 0:
                    break
                await asyncio.sleep(0.02)
        finally:
            stop.set()
            await loop
        assert await _unfolded(stack) == 0
        assert await _year_total_in_cells(stack) == (2, 3_000, 30)

    async def test_rebuild_folds_everything_once(self, stack: Stack, actors: Actors) -> None:
        office = await _registered(stack, actors, 2)
        sessionmaker = stack.service_app("market").state.sessionmaker
        async with sessionmaker() as session, session.begin():
            await stats_fold.fold_pending(session=session, limit=1)
        async with sessionmaker() as session, session.begin():
            await stats_fold.rebuild(session=session)
        assert await _unfolded(stack) == 0
        assert await _year_total_in_cells(stack) == (2, 3_000, 30)
        assert await _total(stack, office) == (2, 3_000, 30)
