"""Two market background processes at once (issue 15, "Faults"): two real ``techmarket market relay`` processes
run against one PostgreSQL database while listings are published and contracts registered. Every outbox event
reaches search exactly once, in version order per listing, and every contract delta is folded exactly once: the
rollup equals the sum over the registered contracts, to the fen.

Search and auth's token endpoint are a recording stand-in (tests/faults/recorder.py), so each delivery is counted;
the relays, the database and the writes (the embedded app's market, in this process) are real.
"""

from __future__ import annotations

import asyncio
import collections
import os
import signal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import col

from services.market.contracts.models import Contract, deltas_table
from services.market.outbox.models import OutboxEvent
from services.market.stats.models import cells_table
from shared.db import pooler_of
from tests.conftest import Stack
from tests.faults.processes import base_env, python_argv, running_processes, wait_until
from tests.faults.recorder import Recorder, recording_search
from tests.market.contracts.factories import ensure_office, register, registrar, seller, submit
from tests.market.helpers import create_listing, transition
from tests.support.actors import Actors

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

RELAYS = ("relay-a", "relay-b")


def _relay_env(stack: Stack, recorder: Recorder, client_id: str) -> dict[str, str]:
    settings = stack.market_settings
    # Through a PgBouncer when the stack's database URL goes through one (test_two_relays_pgbouncer.py): then the
    # broadcaster's LISTEN connection goes straight to PostgreSQL, as in production.
    direct = (
        {"MARKET_BROADCAST_DATABASE_URL": settings.broadcast_database_url}
        if pooler_of(settings.resolved_database_url)
        else {}
    )
    return {
        **base_env(),
        **direct,
        "ENVIRONMENT": "test",
        "MARKET_DATABASE_URL": settings.resolved_database_url,
        "AUTH_URL": recorder.url,
        "MARKET_SEARCH_URL": recorder.url,
        "MARKET_RELAY_CLIENT_ID": client_id,
        # Small batches and short pauses: the two processes interleave many times on a few dozen events.
        "MARKET_RELAY_BATCH_SIZE": "3",
        "MARKET_RELAY_INTERVAL_SECONDS": "0.05",
        "MARKET_STATS_FOLD_BATCH": "2",
        "MARKET_STATS_FOLD_INTERVAL_SECONDS": "0.05",
        "MARKET_MAINTENANCE_INTERVAL_SECONDS": "3600",
    }


async def _outbox(stack: Stack) -> list[tuple[str, str, int, bool]]:
    m = OutboxEvent
    query = sa.select(col(m.entity_kind), col(m.entity_id), col(m.version), col(m.delivered_at).is_not(None))
    async with stack.service_app("market").state.engine.connect() as connection:
        return [(r[0], str(r[1]), int(r[2]), bool(r[3])) for r in (await connection.execute(query)).all()]


async def _unfolded(stack: Stack) -> int:
    query = sa.select(sa.func.count()).select_from(deltas_table).where(sa.not_(deltas_table.c.folded))
    async with stack.service_app("market").state.engine.connect() as connection:
        return int((await connection.execute(query)).scalar_one())


async def _rollup_and_contracts(stack: Stack) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    c = cells_table.c
    cells = sa.select(
        sa.func.sum(c.contracts), sa.func.sum(c.contract_amount_fen), sa.func.sum(c.technology_amount_fen)
    ).where(c.level == 0, c.period < 10_000)  # the year cells of the grand total (month cells hold yyyymm)
    k = Contract.__table__.c  # type: ignore[attr-defined]
    contracts = sa.select(
        sa.func.count(), sa.func.sum(k.contract_amount_fen), sa.func.sum(k.technology_amount_fen)
    ).where(k.status == "registered")
    async with stack.service_app("market").state.engine.connect() as connection:
        a = (await connection.execute(cells)).one()
        b = (await connection.execute(contracts)).one()
    return (int(a[0] or 0), int(a[1] or 0), int(a[2] or 0)), (int(b[0] or 0), int(b[1] or 0), int(b[2] or 0))


async def test_two_relay_processes_deliver_every_event_and_fold_every_delta_once(
    stack: Stack, actors: Actors, tmp_path: Path
) -> None:
    uni = await actors.org_member(kind="university")
    office = await registrar(actors)
    await ensure_office(stack, office)
    sellers = [await seller(actors) for _ in range(2)]

    async def write_round(i: int) -> None:
        listing = await create_listing(stack, uni, patents=[], title=f"一种双中继测试装置 {i}")
        assert (await transition(stack, uni, "achievements", listing["id"], "publish")).status_code == 200
        if i % 3 == 0:  # a later version of the same listing: order per listing matters
            assert (await transition(stack, uni, "achievements", listing["id"], "withdraw")).status_code == 200
        contract = await submit(
            stack, sellers[i % 2], contract_amount_fen=100_000 + i * 1_001, technology_amount_fen=50_000 + i * 7
        )
        await register(stack, office, contract["id"])

    with recording_search(hold_until_senders=len(RELAYS)) as recorder, running_processes(tmp_path) as processes:
        for i in range(4):  # some work is waiting before the relays start
            await write_round(i)
        for name in RELAYS:
            processes.start(name, python_argv("market", "relay"), _relay_env(stack, recorder, name))
        for i in range(4, 16):  # and more arrives while both run
            await write_round(i)
            await asyncio.sleep(0.05)

        async def settled() -> bool:
            outbox = await _outbox(stack)
            return all(delivered for *_, delivered in outbox) and await _unfolded(stack) == 0

        for _ in range(600):
            if await settled():
                break
            assert all(processes.alive(n) for n in RELAYS), processes.logs()
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"the relays did not settle in 60 s:\n{processes.logs()}")

        # Both processes stop cleanly on SIGTERM (the container runtime's stop).
        for name in RELAYS:
            os.kill(processes.pid(name), signal.SIGTERM)
        for name in RELAYS:
            wait_until(lambda n=name: not processes.alive(n), timeout=30, what=f"{name} to exit")  # type: ignore[misc]
            assert processes.specs[name].process.returncode == 0, processes.log_tail(name)  # type: ignore[union-attr]

        deliveries = recorder.snapshot()

    outbox = await _outbox(stack)
    events = collections.Counter((kind, entity_id, version) for kind, entity_id, version, _ in outbox)
    received = collections.Counter((d.kind, d.id, d.version) for d in deliveries)
    assert len(outbox) == 16 * 2 + 6  # created and published, and six withdrawn
    assert received == events, "every outbox event delivered exactly once (no loss, no duplicate)"
    # In version order per listing, whichever process carried each batch.
    per_listing: dict[tuple[str, str], list[int]] = collections.defaultdict(list)
    for d in deliveries:
        per_listing[(d.kind, d.id)].append(d.version)
    assert all(versions == sorted(versions) for versions in per_listing.values())
    by_relay = collections.Counter(d.relay for d in deliveries)
    assert set(by_relay) == set(RELAYS), "both processes delivered (the recorder held the first until both came)"
    print(f"deliveries per relay process: {dict(by_relay)}")

    rollup, contracts = await _rollup_and_contracts(stack)
    assert contracts[0] == 16
    assert rollup == contracts, "every registration folded exactly once, to the fen"
    # And the API's answer (cells plus the now empty unfolded tail) says the same.
    total = (await stack.client.get("/market/stats/contracts", headers=office.headers)).json()["total"]
    assert (total["count"], total["contract_amount_fen"], total["technology_amount_fen"]) == contracts
