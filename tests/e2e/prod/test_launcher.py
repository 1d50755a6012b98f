"""`techmarket prod up --detach | status | down` (what `make prod PROD_DETACH=1` and `make prod-down` run), as a user
runs it: its own secrets file (mode 0600, reused), pids and logs under PROD_DIR, the gateway on PORT, then a clean
stop that leaves no process behind."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from infra.prod import PROCESS_NAMES, ProdConfig, Topology, drop_databases, process_alive
from tests.conftest import REPO_ROOT, REQUIRE_POSTGRES
from tests.support.net import free_port
from tests.support.topology import TEST_TOPOLOGY_ENV, admin_url, missing_prerequisites


def techmarket(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", "from services.cli import main; main()", "prod", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_up_detached_status_and_down(tmp_path: Path) -> None:
    missing = missing_prerequisites()
    if missing:
        if REQUIRE_POSTGRES:
            pytest.fail(f"the production topology needs {', '.join(missing)}")
        pytest.skip(f"the production topology needs {', '.join(missing)}")
    run_dir = tmp_path / "prod"
    port = free_port()
    prefix = f"tm_launch_{secrets.token_hex(4)}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL")},
        **TEST_TOPOLOGY_ENV,
        "PYTHONPATH": str(REPO_ROOT),
        "PORT": str(port),
        "PROD_DIR": str(run_dir),
        "PROD_DATABASE_ADMIN_URL": admin_url().replace("+asyncpg", ""),
        "PROD_DATABASE_PREFIX": prefix,
        "AUTH_BOOTSTRAP_ADMIN_EMAIL": "ops@launcher.test",
        "AUTH_BOOTSTRAP_ADMIN_PASSWORD": "launcher-pass-7d2e",
    }
    started: list[int] = []
    try:
        up = techmarket("up", "--detach", env=env)
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"http://127.0.0.1:{port}/" in up.stdout
        secrets_file = run_dir / "prod.env"
        generated = secrets_file.read_text()
        assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
        values = dict(line.split("=", 1) for line in secrets_file.read_text().splitlines() if "=" in line)
        assert {"MARKET_RELAY_CLIENT_SECRET", "SEARCH_INDEXER_CLIENT_SECRET", "AUTH_RELAY_CLIENT_SECRET"} <= set(values)
        assert all(len(v) >= 32 for v in values.values())

        topology = Topology.load(run_dir.resolve())
        assert topology is not None
        started = [p for p in (topology.pid(name) for name in PROCESS_NAMES) if p] + topology.market_worker_pids()
        assert len(started) == len(PROCESS_NAMES) + 2
        for name in PROCESS_NAMES:
            assert (run_dir / "logs" / f"{name}.log").exists()
        status = techmarket("status", env=env)
        assert status.returncode == 0
        assert status.stdout.count(" running") == len(PROCESS_NAMES), status.stdout
        assert status.stdout.count(" ready") == len(PROCESS_NAMES) - 2, status.stdout  # not the two relays
        # The bootstrap admin passed through signs in at the gateway.
        token = httpx.post(
            f"http://127.0.0.1:{port}/auth/token",
            data={"grant_type": "password", "username": "ops@launcher.test", "password": "launcher-pass-7d2e"},
            timeout=30,
        )
        assert token.status_code == 200, token.text
        # A second `up` refuses while it runs.
        again = techmarket("up", "--detach", env=env)
        assert again.returncode != 0
        # A stopped service: status says so and exits non-zero (a health check can rely on it), so does the
        # gateway's aggregate readiness.
        topology.kill("search")
        status = techmarket("status", env=env)
        assert status.returncode == 1, status.stdout
        lines = {line.split()[0]: line for line in status.stdout.splitlines() if line.strip()}
        assert " stopped" in lines["search"], status.stdout
        assert "NOT ready" in lines["gateway"], status.stdout
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).status_code == 503
    finally:
        down = techmarket("down", env=env)
        drop_databases(ProdConfig(admin_url=admin_url(), db_prefix=prefix))
    assert down.returncode == 0, down.stdout + down.stderr
    # A killed process whose parent has not reaped it yet is a zombie: gone, though /proc still lists it.
    assert not [pid for pid in started if process_alive(pid)]
    assert techmarket("status", env=env).returncode == 1  # nothing runs
    assert (run_dir / "prod.env").read_text() == generated  # kept for the next `up`
