"""The fault suite of test_topology_faults.py once more, with a real PgBouncer (Debian's 1.18, transaction mode)
between every service and the private PostgreSQL cluster — what the README recommends past one machine.

The same tests (imported below, so pytest collects them here too) run against a topology whose services reach
their databases through the bouncer (``?pooler=pgbouncer`` URLs, tests/support/topology.py's
``topology_through_pgbouncer``, as the end-to-end suite's PgBouncer run); market's LISTEN connection alone goes
straight to PostgreSQL. The restart test restarts the PostgreSQL *behind* the bouncer: the bouncer itself and the
services' connections to it stay up, and must serve again once the bouncer has reconnected.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.test_topology_faults import *  # noqa: F403  (the same faults, collected again with the fixture below)
from tests.faults.test_topology_faults import fault_topology
from tests.faults.topology import FaultTopology


# "postgresql-pgbouncer": counted as PostgreSQL in the run's "database backends" summary, named apart in node ids.
@pytest.fixture(scope="module", params=["postgresql-pgbouncer"])
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultTopology]:
    yield from fault_topology(tmp_path_factory, through_pgbouncer=True)
