"""Two market background processes at once (test_two_relays.py) once more, through a real PgBouncer (Debian's 1.18,
transaction mode) with few server connections: the relays' ``FOR UPDATE SKIP LOCKED`` batch claims and the
statistics fold's transaction-level advisory lock must hold when every transaction may run on another server
connection than the last.

The same test (imported below, so pytest collects it here too) runs with this module's ``pgbouncer`` fixture,
which replaces tests/conftest.py's (a TEST_PGBOUNCER=1 run's): the stack's services and both relay processes reach
PostgreSQL through the bouncer (``?pooler=pgbouncer``), LISTEN and the per-test reset go direct.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from shared.db import pooler_of
from tests.conftest import Stack
from tests.faults.test_two_relays import *  # noqa: F403  (the same test, collected again with the fixture below)
from tests.support.databases import postgres_url_from_env
from tests.support.pgbouncer import PgBouncer, pgbouncer_binary, running_pgbouncer

# Fewer than the two relays' and the stack's pools together: sessions share server connections.
SERVER_CONNECTIONS = 3


@pytest.fixture(scope="module")
def pgbouncer() -> Iterator[PgBouncer | None]:
    """A PgBouncer in front of TEST_POSTGRES_URL's server for this module's tests (conftest's runs only with
    TEST_PGBOUNCER=1)."""
    url = postgres_url_from_env()
    if url is None or pgbouncer_binary() is None:  # the backend fixture skips (or fails in CI) without PostgreSQL
        if url is not None and os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail("REQUIRE_POSTGRES=1 but pgbouncer is not installed (.ci/run installs it)")
        if url is not None:
            pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")
        yield None
        return
    with running_pgbouncer(url, pool_size=SERVER_CONNECTIONS) as bouncer:
        yield bouncer


@pytest.fixture(autouse=True)
def _through_the_bouncer(stack: Stack) -> None:
    """The stack, and so both relay processes (test_two_relays._relay_env), really go through the bouncer."""
    assert pooler_of(stack.market_settings.resolved_database_url) == "pgbouncer"
    assert stack.market_settings.broadcast_database_url is not None
    assert pooler_of(stack.market_settings.broadcast_database_url) is None
