"""Faults of issue 15 against the production topology (infra/prod.py: nginx gateway, auth, market ×2 workers, search,
relay, auth-relay — tests/faults/topology.py) on a private PostgreSQL cluster, every request through the gateway:

* kill -9 the search process while listings are published and withdrawn → the relay retries, and once search is
  back the index equals market exactly: nothing missing, nothing stale, nothing private;
* kill -9 one market worker under load → every contract the clients asked for exists exactly once: requests cut
  in flight are retried with their Idempotency-Key, and uvicorn's supervisor replaces the worker;
* PostgreSQL stopped, a market worker killed → its replacement waits for the database instead of failing its
  startup (which would make uvicorn's master stop every worker), and serves once PostgreSQL is started again;
* PostgreSQL restarted (``pg_ctl restart -m fast`` of the private cluster, never the machine's) → every service,
  and the relay, answers correctly again within seconds, without being restarted.

One topology serves the module (starting it costs ~20 s); the database restart runs last.
test_topology_faults_pgbouncer.py collects the same faults again with a PgBouncer (transaction mode) in front of the
cluster (``fault_topology(..., through_pgbouncer=True)``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import TEST_ADMIN_EMAIL, TEST_ADMIN_PASSWORD
from tests.faults.processes import private_postgres, wait_until
from tests.faults.topology import FaultTopology, University, running_fault_topology
from tests.market.contracts.factories import payload
from tests.market.helpers import achievement_body
from tests.support.actors import Actor
from tests.support.pgbouncer import pgbouncer_binary, running_pgbouncer
from tests.support.topology import missing_prerequisites

# What a worker logs while its startup waits for the database (shared.db.while_database_starts).
DATABASE_WAIT_MESSAGE = "database not reachable while starting"
STARTUP_COMPLETE = "Application startup complete"  # uvicorn, once per worker
# What "within seconds" means here: generous for a loaded CI machine, still far below any human restart.
RECOVERY_SECONDS = 20.0
# Server connections per database in the PgBouncer run (test_topology_faults_pgbouncer.py): fewer than the clients'
# pools (auth, two market workers, search, the relays), so sessions really share them.
PGBOUNCER_SERVER_CONNECTIONS = 5


def fault_topology(tmp_path_factory: pytest.TempPathFactory, *, through_pgbouncer: bool) -> Iterator[FaultTopology]:
    """The module's topology on a private cluster, directly or with a PgBouncer (transaction mode) in front of it."""
    missing = [m for m in missing_prerequisites() if m.startswith("nginx")]
    if through_pgbouncer and pgbouncer_binary() is None:
        missing.append("pgbouncer (apt-get install pgbouncer; .ci/run installs it)")
    if missing:
        if os.environ.get("REQUIRE_POSTGRES") == "1":  # CI: .ci/run installs nginx and pgbouncer
            pytest.fail(f"the fault suite needs {', '.join(missing)}")
        pytest.skip(f"the fault suite needs {', '.join(missing)}")
    with contextlib.ExitStack() as running:
        cluster = running.enter_context(private_postgres())
        bouncer = None
        if through_pgbouncer:
            bouncer = running.enter_context(running_pgbouncer(cluster.url, pool_size=PGBOUNCER_SERVER_CONNECTIONS))
        topo = running.enter_context(
            running_fault_topology(tmp_path_factory.mktemp("topology"), cluster.url, bouncer=bouncer)
        )
        topo.cluster = cluster  # type: ignore[attr-defined]
        yield topo


# The id names the backend in the node ids, so the run's "database backends" summary counts these tests.
@pytest.fixture(scope="module", params=["postgresql"])
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultTopology]:
    yield from fault_topology(tmp_path_factory, through_pgbouncer=False)


@pytest.fixture(scope="module")
def university(topology: FaultTopology) -> University:
    return topology.university()


def _retrying(send: Callable[[], httpx.Response]) -> httpx.Response:
    """Send until the answer is not a 503 (a client honouring Retry-After; a 500 is never retried)."""
    for _ in range(50):
        response = send()
        if response.status_code != 503:
            return response
        time.sleep(float(response.headers.get("retry-after", "1")) / 5)
    return response


def _create_achievement(topology: FaultTopology, university: University, title: str) -> dict[str, Any]:
    with topology.client("market") as market:
        response = _retrying(
            lambda: market.post(
                "/achievements", json=achievement_body(patents=[], title=title), headers=university.headers
            )
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created


def _transition(topology: FaultTopology, university: University, listing_id: str, action: str) -> None:
    with topology.client("market") as market:
        current = _retrying(lambda: market.get(f"/achievements/{listing_id}", headers=university.headers))
        assert current.status_code == 200, current.text
        response = _retrying(
            lambda: market.post(
                f"/achievements/{listing_id}/{action}",
                headers={**university.headers, "If-Match": current.headers["etag"]},
            )
        )
        assert response.status_code == 200, response.text


def _market_public(topology: FaultTopology, org_id: str) -> dict[str, tuple[str, str]]:
    """What market shows everyone of ``org_id``'s achievements that search should hold: id → (title, status)."""
    found: dict[str, tuple[str, str]] = {}
    cursor: str | None = None
    with topology.client("market") as market:
        while True:
            params: dict[str, Any] = {"owner_org_id": org_id, "limit": 100, **({"cursor": cursor} if cursor else {})}
            page = market.get("/achievements", params=params)
            assert page.status_code == 200, page.text
            body = page.json()
            for item in body["items"]:
                if item["status"] in ("published", "negotiating"):
                    found[item["id"]] = (item["title"], item["status"])
            cursor = body.get("next_cursor")
            if not cursor:
                return found


def _startups(topology: FaultTopology) -> int:
    """How many market workers have finished their startup so far (uvicorn logs it once per worker)."""
    return topology.prod.log_path("market").read_text(errors="replace").count(STARTUP_COMPLETE)


def _search_index(topology: FaultTopology, org_id: str) -> dict[str, tuple[str, str]]:
    """What search answers for ``org_id``'s achievements: id → (title, status)."""
    found: dict[str, tuple[str, str]] = {}
    with topology.client("search") as search:
        offset = 0
        while True:
            page = search.get("/achievements", params={"owner_org": org_id, "limit": 100, "offset": offset})
            assert page.status_code == 200, page.text
            hits = page.json()["hits"]
            for hit in hits:
                found[hit["id"]] = (hit["title"], hit["status"])
            if len(hits) < 100:
                return found
            offset += 100


def _failed_deliveries(topology: FaultTopology) -> int:
    """Undelivered market outbox events the relay has already tried (and failed) to deliver."""

    async def count() -> int:
        url = make_url(topology.prod.database_urls["market"]).set(drivername="postgresql")
        connection = await asyncpg.connect(url.render_as_string(hide_password=False))
        try:
            sql = "SELECT count(*) FROM market_outbox WHERE delivered_at IS NULL AND attempts > 0"
            return int(await connection.fetchval(sql))
        finally:
            await connection.close()

    return asyncio.run(count())


def test_search_killed_while_publishing_catches_up_exactly(topology: FaultTopology, university: University) -> None:
    listings: list[str] = []
    for i in range(6):
        listing = _create_achievement(topology, university, f"一种故障注入检测装置 {i}")
        _transition(topology, university, listing["id"], "publish")
        listings.append(listing["id"])
    wait_until(
        lambda: len(_search_index(topology, university.org_id)) == 6, timeout=RECOVERY_SECONDS, what="first listings"
    )

    topology.prod.kill("search")  # kill -9: no graceful shutdown, the index is left as the crash left it
    with httpx.Client(base_url=topology.prod.base_url, timeout=10) as gateway:  # the whole is not ready, and says why
        not_ready = gateway.get("/readyz")
        assert not_ready.status_code == 503, not_ready.text
        assert not_ready.json()["detail"].startswith("search is not ready"), not_ready.text
    # Market keeps taking changes while search is down: new listings, and private ones (a withdrawal, a draft).
    for i in range(6, 12):
        listing = _create_achievement(topology, university, f"一种故障注入检测装置 {i}")
        _transition(topology, university, listing["id"], "publish")
        listings.append(listing["id"])
    _transition(topology, university, listings[0], "withdraw")  # was indexed: must disappear
    _transition(topology, university, listings[7], "withdraw")  # published and withdrawn during the outage
    _create_achievement(topology, university, "一份从未发布的草稿")  # a draft: never in search
    with topology.client("market") as market:  # an indexed listing changes: its old title would be stale
        current = market.get(f"/achievements/{listings[1]}", headers=university.headers)
        edited = market.patch(
            f"/achievements/{listings[1]}",
            json={"title": "一种故障注入检测装置（改进型）"},
            headers={**university.headers, "If-Match": current.headers["etag"]},
        )
        assert edited.status_code == 200, edited.text
    # The relay tries, fails and keeps the events for a retry while search is down; nothing is lost.
    wait_until(lambda: _failed_deliveries(topology) > 0, timeout=RECOVERY_SECONDS, what="the relay to try and fail")
    assert topology.prod.is_running("relay")

    topology.prod.restart("search")  # waits until it is ready
    expected = _market_public(topology, university.org_id)
    assert len(expected) == 10
    try:
        wait_until(
            lambda: _search_index(topology, university.org_id) == expected,
            timeout=RECOVERY_SECONDS,
            what="search to equal market",
        )
    except AssertionError:
        raise AssertionError(
            f"search {_search_index(topology, university.org_id)} != market {expected}\n{topology.logs()}"
        ) from None
    index = _search_index(topology, university.org_id)
    assert listings[0] not in index
    assert listings[7] not in index
    assert index[listings[1]][0] == "一种故障注入检测装置（改进型）"


def test_market_worker_killed_under_load_loses_nothing_and_duplicates_nothing(
    topology: FaultTopology, university: University
) -> None:
    topology.organization("registration_office")  # serves the seller's region: submissions need one
    master = topology.prod.pid("market")
    startups_before = _startups(topology)
    wait_until(lambda: len(topology.prod.market_worker_pids()) == 2, timeout=RECOVERY_SECONDS, what="two workers")
    seller = Actor(
        token=university.token,
        subject="",
        org_id=uuid.UUID(university.org_id),
        org_kind="university",
        org_path=None,
        roles=["org_admin", "member"],
        org_name=university.name,
        credit_code=university.credit_code,
        region_code="510100",
    )
    total = 120
    keys = [f"fault-{uuid.uuid4()}" for _ in range(total)]
    bodies = {key: payload(seller, contract_no=f"FLT-{n:04d}") for n, key in enumerate(keys)}
    outcomes: dict[str, list[str]] = collections.defaultdict(list)
    killed = asyncio.Event()
    quarter_done = asyncio.Event()  # kill once a quarter of the contracts exist: the load is well under way
    created_count = 0

    async def submit(client: httpx.AsyncClient, key: str) -> dict[str, Any]:
        # A client that retries what it could not hear the answer to, with the same Idempotency-Key.
        for _ in range(100):
            try:
                response = await client.post(
                    "/contracts", json=bodies[key], headers={**university.headers, "Idempotency-Key": key}
                )
            except httpx.TransportError as exc:
                outcomes[key].append(type(exc).__name__)
                await asyncio.sleep(0.05)
                continue
            replayed = response.headers.get("Idempotent-Replayed") == "true"
            outcomes[key].append(f"{response.status_code}{' replayed' if replayed else ''}")
            if response.status_code == 409 or response.status_code >= 500:  # its twin still in flight / a restart
                await asyncio.sleep(0.1)
                continue
            assert response.status_code == 201, response.text
            nonlocal created_count
            created_count += 1
            if created_count >= total // 4:
                quarter_done.set()
            created: dict[str, Any] = response.json()
            return created
        raise AssertionError(f"{key}: never answered: {outcomes[key]}")

    async def killer() -> None:
        await quarter_done.wait()
        os.kill(topology.prod.market_worker_pids()[0], signal.SIGKILL)
        killed.set()

    async def load() -> list[dict[str, Any]]:
        limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
        async with httpx.AsyncClient(base_url=topology.url("market"), timeout=30, limits=limits) as client:
            semaphore = asyncio.Semaphore(8)

            async def one(key: str) -> dict[str, Any]:
                async with semaphore:
                    return await submit(client, key)

            kill = asyncio.create_task(killer())
            results = await asyncio.gather(*(one(k) for k in keys))
            await kill
            return list(results)

    results = asyncio.run(load())
    assert killed.is_set()
    # Every request the clients made has its contract, and each one once: as many distinct contracts as keys.
    ids = {key: r["id"] for key, r in zip(keys, results, strict=True)}
    assert len(set(ids.values())) == total
    with topology.client("market") as market:
        mine: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            page = market.get("/contracts", params=params, headers=university.headers)
            assert page.status_code == 200, page.text
            mine.extend(page.json()["items"])
            cursor = page.json().get("next_cursor")
            if not cursor:
                break
    by_no = collections.Counter(c["contract_no"] for c in mine if c["contract_no"].startswith("FLT-"))
    assert len(by_no) == total, "every request has its contract"
    assert set(by_no.values()) == {1}, "no request made two contracts"
    assert {c["id"] for c in mine} >= set(ids.values())
    # uvicorn's supervisor replaced the killed worker; the master itself never stopped.
    wait_until(
        lambda: len(topology.prod.market_worker_pids()) == 2, timeout=RECOVERY_SECONDS, what="a replacement worker"
    )
    assert topology.prod.pid("market") == master
    assert topology.prod.is_running("market")
    # The next test starts from two serving workers, not one still starting.
    wait_until(
        lambda: _startups(topology) > startups_before,
        timeout=RECOVERY_SECONDS,
        what="the replacement worker to finish its startup",
    )
    retried = {k: o for k, o in outcomes.items() if len(o) > 1}
    print(
        f"worker killed: {len(retried)} of {total} requests were retried: {collections.Counter(map(tuple, retried.values()))}"
    )


def test_market_worker_replaced_while_postgres_is_down_serves_once_it_is_back(
    topology: FaultTopology, university: University
) -> None:
    """A worker that dies while PostgreSQL is down is replaced at once; its replacement's startup (migrations) meets a
    refused database and waits for it — a failed startup would make uvicorn's master stop every worker."""
    listing = _create_achievement(topology, university, "数据库停机时替换工作进程")
    master = topology.prod.pid("market")
    wait_until(lambda: len(topology.prod.market_worker_pids()) == 2, timeout=RECOVERY_SECONDS, what="two workers")
    victim = topology.prod.market_worker_pids()[0]
    market_log = topology.prod.log_path("market")
    waits_before = market_log.read_text(errors="replace").count(DATABASE_WAIT_MESSAGE)
    startups_before = _startups(topology)
    topology.cluster.stop()  # type: ignore[attr-defined]
    try:
        os.kill(victim, signal.SIGKILL)
        wait_until(
            lambda: victim not in topology.prod.market_worker_pids() and len(topology.prod.market_worker_pids()) == 2,
            timeout=RECOVERY_SECONDS,
            what="uvicorn's master to start a replacement worker",
        )
        # The replacement reaches its migrations while the database refuses: it waits (and says so) — or, without
        # the wait, fails its startup and takes the master down.
        wait_until(
            lambda: (
                market_log.read_text(errors="replace").count(DATABASE_WAIT_MESSAGE) > waits_before
                or not topology.prod.is_running("market")
            ),
            timeout=RECOVERY_SECONDS,
            what="the replacement worker to reach the database",
        )
        assert topology.prod.is_running("market"), topology.logs()
    finally:
        topology.cluster.start()  # type: ignore[attr-defined]

    seen: collections.Counter[int] = collections.Counter()

    def both_workers_serve() -> bool:
        # Each of a few fresh connections reaches one of the two workers: all must answer.
        with topology.client("market") as market:
            path = f"/achievements/{listing['id']}"
            statuses = [market.get(path, headers=university.headers).status_code for _ in range(8)]
            seen.update(statuses)
            return all(status == 200 for status in statuses)

    wait_until(both_workers_serve, timeout=RECOVERY_SECONDS, what="market to serve after PostgreSQL is back")
    # While auth's pool replaced its dead connections the replacement may not have had the signing keys yet: the
    # valid token waited (503 auth-unavailable), it was never refused (401) — nor did anything fail (500).
    assert not {401, 500} & set(seen), seen
    print(f"both workers serve after PostgreSQL is back; answers while recovering: {dict(seen)}")
    assert topology.prod.pid("market") == master
    assert len(topology.prod.market_worker_pids()) == 2
    wait_until(
        lambda: _startups(topology) > startups_before,
        timeout=RECOVERY_SECONDS,
        what="the replacement worker to finish its startup",
    )


def test_postgres_restart_every_service_recovers_without_restarting(
    topology: FaultTopology, university: University
) -> None:
    pids = {name: topology.prod.pid(name) for name in ("auth", "market", "search", "relay", "auth-relay", "gateway")}
    before = _create_achievement(topology, university, "数据库重启之前的成果")
    _transition(topology, university, before["id"], "publish")
    wait_until(
        lambda: before["id"] in _search_index(topology, university.org_id), timeout=RECOVERY_SECONDS, what="index"
    )

    topology.cluster.restart()  # type: ignore[attr-defined]
    restarted = time.monotonic()

    seen: collections.Counter[str] = collections.Counter()  # what the services answered while recovering

    def answers() -> bool:
        # Every service does real database work: auth signs someone in, market reads a listing, search searches.
        try:
            topology.login(TEST_ADMIN_EMAIL, TEST_ADMIN_PASSWORD)
        except httpx.HTTPStatusError as exc:
            seen[f"auth {exc.response.status_code}"] += 1
            return False
        with topology.client("market") as market, topology.client("search") as search:
            # With the university's token: market checks it against auth's keys (a 503 while they are out of
            # reach, never a 401), then reads the listing.
            status = market.get(f"/achievements/{before['id']}", headers=university.headers).status_code
            if status != 200:
                seen[f"market {status}"] += 1
                return False
            status = search.get("/achievements", params={"owner_org": university.org_id}).status_code
            seen[f"search {status}"] += 1
            return status == 200

    wait_until(answers, timeout=RECOVERY_SECONDS, what="every service to answer after the database restart")
    after = _create_achievement(topology, university, "数据库重启之后的成果")
    _transition(topology, university, after["id"], "publish")
    # The relay process (its own pool, its broadcaster's LISTEN) carries the new listing to search.
    wait_until(
        lambda: after["id"] in _search_index(topology, university.org_id),
        timeout=RECOVERY_SECONDS,
        what="the relay to deliver after the database restart",
    )
    recovered = time.monotonic() - restarted
    assert recovered < RECOVERY_SECONDS
    # While the connections were being replaced, a request got a 503 to retry, never a 500 — and a valid token
    # was never refused.
    assert not [answer for answer in seen if answer.endswith((" 500", " 401"))], seen
    assert {name: topology.prod.pid(name) for name in pids} == pids
    assert all(topology.prod.is_running(name) for name in pids), topology.logs()
    print(f"recovered {recovered:.1f} s after the PostgreSQL restart; answers while recovering: {dict(seen)}")
