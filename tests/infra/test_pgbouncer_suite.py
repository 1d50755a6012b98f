"""A slice of the suite once more on PostgreSQL, through a real PgBouncer in transaction mode (TEST_PGBOUNCER=1).

The slice covers what transaction pooling breaks first: concurrent contract registration (the one-statement
registration and its gap-free numbers), the statistics fold (advisory lock, temporary tables), saved-search alert
claims, webhook claims and the live notification stream (LISTEN on the direct URL, pg_notify through the bouncer): about 40 tests,
under two minutes. Auth and search go through a bouncer in tests/e2e/prod/test_topology_pgbouncer.py (every
service of the production topology); TEST_PGBOUNCER=1 runs any other test so by hand. It runs in a child pytest so that the bouncer's fixtures (tests/conftest.py) apply
to those tests alone; the child starts its own PgBouncer and stops it before it exits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.databases import postgres_url_from_env
from tests.support.pgbouncer import pgbouncer_binary

REPO = Path(__file__).resolve().parents[2]
SLICE = [
    "tests/market/contracts/test_concurrency.py",
    "tests/market/stats/test_fold.py",
    "tests/market/saved_searches/test_alerts.py",
    "tests/market/webhooks/test_background.py",
    "tests/market/webhooks/test_storage.py",
    "tests/market/notifications/test_stream.py",
]
TIMEOUT_SECONDS = 420


def test_the_postgresql_slice_passes_through_pgbouncer() -> None:
    url = postgres_url_from_env()
    require = os.environ.get("REQUIRE_POSTGRES") == "1"
    for missing, why in ((url is None, "TEST_POSTGRES_URL is not set"), (pgbouncer_binary() is None, "no pgbouncer")):
        if missing:
            if require:
                pytest.fail(f"REQUIRE_POSTGRES=1 but {why}")
            pytest.skip(why)
    env = {**os.environ, "TEST_PGBOUNCER": "1", "TEST_POSTGRES_URL": str(url), "REQUIRE_POSTGRES": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "postgresql", *SLICE]
    # The child's fixtures stop its bouncer. A child that hangs is killed with its whole process group (its own
    # session), bouncer included, so nothing outlives the test.
    child = subprocess.Popen(  # noqa: S603  (our own interpreter)
        command,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = child.communicate(timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        stdout, stderr = child.communicate()
        pytest.fail(f"the PgBouncer slice took over {TIMEOUT_SECONDS}s: {stdout[-3000:]}")
    summary = stdout[-4000:]
    assert child.returncode == 0, summary + stderr[-2000:]
    assert "postgresql: 0 passed" not in summary, summary
    assert " failed" not in summary.splitlines()[-1], summary
