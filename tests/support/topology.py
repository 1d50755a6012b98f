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
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from infra.prod import DEFAULT_ADMIN_URL, Topology, running_topology
from tests.conftest import TEST_ADMIN_EMAIL, TEST_ADMIN_PASSWORD

__all__ = ["TEST_TOPOLOGY_ENV", "admin_url", "missing_prerequisites", "topology_for_tests"]

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
