"""Concurrent registrations: no lost rollup update, serial numbers unique and gap-free.

On PostgreSQL the registrations really run in parallel transactions (row locks on the office's counter), with the
statistics fold running at the same time; on SQLite BEGIN IMMEDIATE serializes the writers. Both must give the
same exact result, before and after the last fold.
"""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from services.market.contracts.models import deltas_table
from services.market.stats.fold import fold_all
from services.market.stats.models import cells_table
from shared.clock import today_in_china
from tests.conftest import Stack
from tests.market.contracts.factories import ensure_office, payload, registrar, seller
from tests.support.actors import Actors

N = 40


class TestConcurrentRegistration:
    async def test_parallel_registrations_lose_nothing_and_number_without_gaps(
        self, stack: Stack, actors: Actors
    ) -> None:
        office = await registrar(actors)
        await ensure_office(stack, office)
        colleagues = [office, *[await actors.colleague(office, roles=("registrar",)) for _ in range(3)]]
        s = await seller(actors)
        ids = []
        for i in range(N):
            body = payload(s, contract_amount_fen=1_000_003 * (i + 1), technology_amount_fen=999 * (i + 1))
            response = await stack.client.post("/market/contracts", json=body, headers=s.headers)
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])

        async def register(i: int, contract_id: str) -> tuple[str, int, str | None]:
            who = colleagues[i % len(colleagues)]
            response = await stack.client.post(
                f"/market/contracts/{contract_id}/register", json={}, headers=who.headers
            )
            assert response.status_code in (200, 409), response.text
            number = response.json()["registration_no"] if response.status_code == 200 else None
            return contract_id, response.status_code, number

        # Every contract is registered once; the first ten are raced by a second registrar at the same time.
        attempts = [register(i, c) for i, c in enumerate(ids)] + [register(i + 1, c) for i, c in enumerate(ids[:10])]
        sessionmaker = stack.service_app("market").state.sessionmaker
        done = asyncio.Event()
        folded = 0

        async def fold_meanwhile() -> None:
            nonlocal folded
            while not done.is_set():
                folded += await fold_all(sessionmaker=sessionmaker, batch=7)
                await asyncio.sleep(0.01)

        folder = asyncio.create_task(fold_meanwhile())
        try:
            results = await asyncio.gather(*attempts)
        finally:
            done.set()
            await folder
        wins: dict[str, int] = {}
        for contract_id, status, _ in results:
            wins[contract_id] = wins.get(contract_id, 0) + (status == 200)
        assert set(wins.values()) == {1}
        numbers = sorted(n for _, _, n in results if n is not None)
        year = today_in_china().year
        assert numbers == [f"{year}510100{n:06d}" for n in range(1, N + 1)]

        expected = (N, sum(1_000_003 * (i + 1) for i in range(N)), sum(999 * (i + 1) for i in range(N)))
        # Exact before the last fold: the cells plus the unfolded tail.
        total = (await stack.client.get("/market/stats/contracts", headers=office.headers)).json()["total"]
        assert (total["count"], total["contract_amount_fen"], total["technology_amount_fen"]) == expected
        folded += await fold_all(sessionmaker=sessionmaker, batch=7)
        assert folded == N

        engine = stack.service_app("market").state.engine
        async with engine.connect() as connection:
            ledger = (
                await connection.execute(
                    sa.select(
                        sa.func.count(),
                        sa.func.sum(deltas_table.c.contract_amount_delta_fen),
                        sa.func.sum(deltas_table.c.technology_amount_delta_fen),
                    )
                )
            ).one()
            cells = (
                await connection.execute(
                    sa.select(
                        sa.func.sum(cells_table.c.contracts),
                        sa.func.sum(cells_table.c.contract_amount_fen),
                        sa.func.sum(cells_table.c.technology_amount_fen),
                    ).where(cells_table.c.level == 0, cells_table.c.period >= 10000)
                )
            ).one()
        assert tuple(int(v) for v in ledger) == expected
        assert tuple(int(v) for v in cells) == expected
        total = (await stack.client.get("/market/stats/contracts", headers=office.headers)).json()["total"]
        assert (total["count"], total["contract_amount_fen"], total["technology_amount_fen"]) == expected
