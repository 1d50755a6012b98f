"""The production topology's end-to-end suite (test_topology.py) once more, with PgBouncer in transaction mode
between every service and PostgreSQL — what the README recommends past one machine.

The same tests (imported below, so pytest collects them here too) run against a topology whose services reach
their databases through a real PgBouncer 1.18 (Debian's) with a few server connections per database, their URLs
marked ``?pooler=pgbouncer`` (shared.db: no statement caches, unique prepared-statement names, no autocommit).
The migrations run through it as well; market's LISTEN connection alone goes straight to PostgreSQL
(MARKET_BROADCAST_DATABASE_URL). Tests that read a database themselves get the direct URLs
(tests/support/topology.py's topology_through_pgbouncer, which the fault suite's PgBouncer run shares).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.prod import PROCESS_NAMES, Topology
from tests.conftest import REQUIRE_POSTGRES
from tests.e2e.prod.test_topology import *  # noqa: F403  (the same suite, collected again with the fixture below)
from tests.support.pgbouncer import pgbouncer_binary, running_pgbouncer
from tests.support.topology import admin_url, missing_prerequisites, topology_through_pgbouncer

SERVER_CONNECTIONS = 5  # per database, shared by auth, two market workers, search and the relays


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    missing = missing_prerequisites()
    if pgbouncer_binary() is None:
        missing.append("pgbouncer (apt-get install pgbouncer; .ci/run installs it)")
    if missing:
        if REQUIRE_POSTGRES:
            pytest.fail(f"the production topology through PgBouncer needs {', '.join(missing)}")
        pytest.skip(f"the production topology through PgBouncer needs {', '.join(missing)}")
    env = {
        # As test_topology.py: the shortest token lifetime production accepts, quick relay rounds.
        "AUTH_ACCESS_TOKEN_TTL_SECONDS": "60",
        "MARKET_RELAY_INTERVAL_SECONDS": "0.2",
    }
    with running_pgbouncer(admin_url(), pool_size=SERVER_CONNECTIONS) as bouncer:
        with topology_through_pgbouncer(tmp_path_factory.mktemp("prod-pgbouncer"), bouncer=bouncer, env=env) as running:
            yield running
            started = [running.pid(name) for name in PROCESS_NAMES] + running.market_worker_pids()
        alive = [pid for pid in started if pid is not None and Path(f"/proc/{pid}").exists()]
        assert not alive, f"processes left running: {alive}"
