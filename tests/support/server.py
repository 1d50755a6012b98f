"""A real `techmarket serve` (uvicorn, the embedded app) in a subprocess, for tools that need a URL.

Schemathesis drives a real server over the network, as an integrator's fuzzer would: a fresh DATA_DIR (SQLite files
and the embedded search index), the test platform admin bootstrapped, cheap argon2 (environment=test) and lexical
search only, on a free loopback port. ``make_actor_tokens`` creates a university admin through the public API, as
tests/support/actors.py does in-process.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import REPO_ROOT, TEST_ADMIN_EMAIL, TEST_ADMIN_PASSWORD
from tests.support.net import free_port

__all__ = ["RunningServer", "make_actor_tokens", "running_server"]


@dataclass
class RunningServer:
    base_url: str
    data_dir: Path
    log_path: Path

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]


@contextmanager
def running_server(
    data_dir: Path, *, startup_timeout: float = 60.0, settings: dict[str, str] | None = None
) -> Iterator[RunningServer]:
    """`techmarket serve` on a free port with a fresh ``data_dir``; stopped (SIGTERM, then SIGKILL) on exit.
    ``settings``: environment variables that override the defaults below (database URLs included)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "DATA_DIR": str(data_dir),
        "ENVIRONMENT": "test",
        "AUTH_BOOTSTRAP_ADMIN_EMAIL": TEST_ADMIN_EMAIL,
        "AUTH_BOOTSTRAP_ADMIN_PASSWORD": TEST_ADMIN_PASSWORD,
        # As tests/conftest.py: cheap argon2id (allowed only with environment=test) and no embedding model.
        "AUTH_PASSWORD_HASH_MEMORY_KIB": "1024",
        "AUTH_PASSWORD_HASH_TIME_COST": "1",
        "AUTH_PASSWORD_HASH_PARALLELISM": "1",
        "SEARCH_EMBEDDER": "none",
        # environment=test turns the relays off by default (in-process tests drain them by hand); a served
        # app runs them as `make run` does: auth's organizations reach market, market's listings reach search.
        "AUTH_RELAY_ENABLED": "true",
        "MARKET_RELAY_ENABLED": "true",
        # A live notification stream stays open until it ends; a fuzzer's request would wait for it (and time out),
        # so a served test app ends each stream after a second, as it would at a token's expiry.
        "MARKET_NOTIFICATIONS_STREAM_MAX_SECONDS": "1",
    }
    # Database URLs of the caller's environment would point the server at someone else's databases; the
    # caller's ``settings`` may name its own (a PostgreSQL run).
    for name in list(env):
        if name.endswith("DATABASE_URL") or name == "MEILI_URL":
            del env[name]
    env.update(settings or {})
    log_path = data_dir / "server.log"
    base_url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603  (our own interpreter and module)
            [
                sys.executable,
                "-c",
                "from services.cli import main; main()",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        server = RunningServer(base_url=base_url, data_dir=data_dir, log_path=log_path)
        try:
            deadline = time.monotonic() + startup_timeout
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"techmarket serve exited with {process.returncode}:\n{server.log_tail()}")
                try:
                    if all(
                        httpx.get(f"{base_url}/{s}/readyz", timeout=2).status_code == 200
                        for s in ("auth", "market", "search")
                    ):
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"techmarket serve not ready after {startup_timeout}s:\n{server.log_tail()}")
                time.sleep(0.2)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _login(client: httpx.Client, email: str, password: str) -> str:
    response = client.post("/auth/token", data={"grant_type": "password", "username": email, "password": password})
    response.raise_for_status()
    return str(response.json()["access_token"])


def make_actor_tokens(base_url: str) -> dict[str, str]:
    """Tokens of the platform admin and of a verified university's admin, made through the public API; returns once
    market's directory knows the university as verified."""
    from tests.support.codes import credit_code

    with httpx.Client(base_url=base_url, timeout=30) as client:
        admin = _login(client, TEST_ADMIN_EMAIL, TEST_ADMIN_PASSWORD)
        email = f"uni-admin-{secrets.token_hex(3)}@fuzz.test"
        password = f"fuzz-pass-{secrets.token_hex(6)}"
        signup = client.post(
            "/auth/signup",
            json={
                "organization": {
                    "name": "模糊测试大学",
                    "kind": "university",
                    "credit_code": credit_code("510100"),
                    "region_code": "510100",
                },
                "user": {"email": email, "password": password, "name": "技术转移办公室"},
            },
        )
        signup.raise_for_status()
        # Signup gives no ids (the same 202 for a taken address): the new admin signs in and reads /auth/me.
        university_admin = _login(client, email, password)
        me = client.get("/auth/me", headers={"Authorization": f"Bearer {university_admin}"})
        me.raise_for_status()
        org_id = me.json()["memberships"][0]["organization"]["id"]
        client.post(
            f"/auth/organizations/{org_id}/verify", headers={"Authorization": f"Bearer {admin}"}
        ).raise_for_status()
        # Market learns of the organization from auth's relay, asynchronously. A listing published before the
        # verified card arrives is re-sent with its owner when it does (version + 1: owner_updated), so a client
        # holding the earlier ETag would meet a 412. Callers start once market knows the organization as verified.
        deadline = time.monotonic() + 30
        while client.get(f"/market/directory/organizations/{org_id}").status_code != 200:
            if time.monotonic() > deadline:
                raise AssertionError(f"market's directory did not learn of organization {org_id} within 30 s")
            time.sleep(0.1)
        return {"platform_admin": admin, "university_admin": _login(client, email, password)}
