"""The production topology (infra/prod.py) for tests: `running_topology` with the test suite's defaults.

    from tests.support.topology import topology_for_tests

    with topology_for_tests(tmp_path) as topo:         # a Topology: see infra/prod.py's docstring for its interface
        httpx.get(f"{topo.base_url}/market/readyz")
        topo.kill("search"); topo.restart("search")

Defaults: the test platform admin bootstrapped (tests.conftest.TEST_ADMIN_EMAIL/_PASSWORD), argon2id at OWASP's
minimum (the lowest production accepts: logins stay cheap), lexical search (no embedding model), unique database
names on TEST_POSTGRES_URL's server (else the machine's PostgreSQL), dropped afterwards; the services connect to
TEST_PROD_DATABASE_URL's server instead when it is set (e.g. a PgBouncer in front of that PostgreSQL). ``env`` adds or overrides
variables of every process; other keyword arguments are infra.prod.ProdConfig fields.

``topology_through_pgbouncer(run_dir, bouncer=...)`` is the same topology with a PgBouncer (tests/support/pgbouncer.py)
between every service and PostgreSQL: used by the end-to-end suite's and the fault suite's PgBouncer runs.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from infra.prod import DEFAULT_ADMIN_URL, HTTP_SERVICES, Topology, running_topology
from tests.conftest import TEST_ADMIN_EMAIL, TEST_ADMIN_PASSWORD
from tests.support.pgbouncer import PgBouncer

__all__ = [
    "TEST_TOPOLOGY_ENV",
    "DirectDatabases",
    "admin_url",
    "missing_prerequisites",
    "topology_for_tests",
    "topology_through_pgbouncer",
]

TEST_TOPOLOGY_ENV = {
    "SEARCH_EMBEDDER": "none",
    "AUTH_PASSWORD_HASH_MEMORY_KIB": "19456",
    "AUTH_PASSWORD_HASH_TIME_COST": "2",
    "LOG_LEVEL": "INFO",
}


def admin_url() -> str:
    """The PostgreSQL server the tests use (TEST_POSTGRES_URL), or the machine's default."""
    return os.environ.get("TEST_POSTGRES_URL") or DEFAULT_ADMIN_URL


def missing_prerequisites() -> list[str]:
    """What the topology needs and this machine lacks: nginx, an answering PostgreSQL (empty: all there)."""
    missing = []
    if shutil.which("nginx") is None and not os.access("/usr/sbin/nginx", os.X_OK):
        missing.append("nginx (apt-get install nginx; .ci/run installs it)")

    async def probe() -> None:
        import asyncpg

        connection = await asyncpg.connect(admin_url().replace("+asyncpg", ""), timeout=3)
        await connection.close()

    try:
        asyncio.run(probe())
    except Exception:  # unreachable, refused, bad credentials: no PostgreSQL to run the topology on
        missing.append(f"PostgreSQL at {admin_url()}")
    return missing


@contextmanager
def topology_for_tests(run_dir: Path, *, env: dict[str, str] | None = None, **config: Any) -> Iterator[Topology]:
    """infra.prod.running_topology with the test defaults above."""
    config.setdefault("admin_url", admin_url())
    # TEST_PROD_DATABASE_URL: the server the services connect to, when not the admin one (e.g. a PgBouncer run).
    if os.environ.get("TEST_PROD_DATABASE_URL"):
        config.setdefault("service_database_url", os.environ["TEST_PROD_DATABASE_URL"])
    config.setdefault("bootstrap_admin_email", TEST_ADMIN_EMAIL)
    config.setdefault("bootstrap_admin_password", TEST_ADMIN_PASSWORD)
    with running_topology(run_dir, env={**TEST_TOPOLOGY_ENV, **(env or {})}, **config) as topology:
        yield topology


class DirectDatabases:
    """A running topology whose services go through a pooler, except that ``database_urls`` are the direct ones:
    what a test reads or counts itself bypasses the pooler (asyncpg's defaults need a session of their own)."""

    def __init__(self, topology: Topology, direct: dict[str, str]) -> None:
        self._topology = topology
        self.database_urls = direct

    def __getattr__(self, name: str) -> Any:
        return getattr(self._topology, name)


@contextmanager
def topology_through_pgbouncer(
    run_dir: Path, *, bouncer: PgBouncer, server_url: str | None = None, env: dict[str, str] | None = None
) -> Iterator[Topology]:
    """``topology_for_tests`` with every service reaching PostgreSQL (``admin_url``'s server) through ``bouncer``
    (URLs marked ``?pooler=pgbouncer``, migrations included; ``server_url`` defaults to the tests' server), except market's LISTEN connection
    (MARKET_BROADCAST_DATABASE_URL, direct). Yields the topology with direct ``database_urls`` (DirectDatabases)."""
    server_url = server_url or admin_url()
    server = make_url(server_url).set(drivername="postgresql+asyncpg")
    prefix = f"tm_pgb_{secrets.token_hex(4)}"
    direct = {
        name: server.set(database=f"{prefix}_{name}").render_as_string(hide_password=False) for name in HTTP_SERVICES
    }
    # LISTEN needs a session of its own: straight to PostgreSQL.
    env = {**(env or {}), "MARKET_BROADCAST_DATABASE_URL": direct["market"]}
    with topology_for_tests(
        run_dir, env=env, admin_url=server_url, db_prefix=prefix, service_database_url=bouncer.url(server_url)
    ) as running:
        assert all("pooler=pgbouncer" in url for url in running.database_urls.values())
        yield DirectDatabases(running, direct)  # type: ignore[misc]
