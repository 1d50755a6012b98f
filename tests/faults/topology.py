"""The production shape, small: auth, market (2 uvicorn worker processes), search and the market relay, each its own
OS process on its own port, on one PostgreSQL server (the fault suite's private cluster), addressable by name.

Until the topology launcher of issue 15 (branch ``prod``) lands, this is the fault suite's own minimal launcher:
no gateway (each service is reached on its port, at its root paths, as docker-compose publishes them), the
environment names of docker-compose.yml, ``environment=test`` only for the development secrets and cheap password
hashing. The organization feed's relay runs inside the auth app (AUTH_RELAY_ENABLED), the market relay as its own
process (SERVICE=relay's command).
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from tests.conftest import REPO_ROOT, TEST_ADMIN_EMAIL, TEST_ADMIN_PASSWORD
from tests.faults.processes import Processes, base_env, free_port, python_argv, running_processes, wait_until
from tests.support.actors import fake_credit_code

__all__ = ["Topology", "University", "running_topology"]

SERVICES = ("auth", "market", "search")


def _uvicorn(app: str, port: int, *, workers: int = 1) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-proxy-headers",
        "--no-access-log",
    ]


@dataclass
class University:
    """A verified university and its admin's token (a member who may list achievements and submit contracts)."""

    token: str
    org_id: str
    name: str
    credit_code: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Topology:
    processes: Processes
    ports: dict[str, int]
    database_urls: dict[str, str]
    admin_token: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def client(self, service: str, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url(service), timeout=kwargs.pop("timeout", 10), **kwargs)

    def ready(self, service: str) -> bool:
        try:
            return httpx.get(f"{self.url(service)}/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def wait_ready(self, *services: str, timeout: float = 60) -> None:
        for service in services or SERVICES:
            try:
                wait_until(lambda s=service: self.ready(s), timeout=timeout, what=f"{service} to be ready")  # type: ignore[misc]
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{self.processes.logs()}") from None

    def login(self, email: str, password: str) -> str:
        with self.client("auth") as auth:
            response = auth.post("/token", data={"grant_type": "password", "username": email, "password": password})
            response.raise_for_status()
            return str(response.json()["access_token"])

    def university(self) -> University:
        """A verified university known to market (see ``organization``)."""
        return self.organization("university")

    def organization(self, kind: str) -> University:
        """Sign up an organization of ``kind`` in 成都 through auth, have the platform admin verify it, wait until
        market's directory knows it (auth's relay)."""
        email = f"tto-{secrets.token_hex(4)}@faults.test"
        password = f"faults-{secrets.token_hex(8)}"
        credit_code = fake_credit_code("510100")
        name = f"故障测试{kind}{secrets.token_hex(2)}"
        with self.client("auth") as auth:
            signup = auth.post(
                "/signup",
                json={
                    "organization": {
                        "name": name,
                        "kind": kind,
                        "credit_code": credit_code,
                        "region_code": "510100",
                    },
                    "user": {"email": email, "password": password, "name": "技术转移办公室"},
                },
            )
            assert signup.status_code == 202, signup.text
            token = self.login(email, password)
            me = auth.get("/me", headers={"Authorization": f"Bearer {token}"})
            org_id = str(me.json()["memberships"][0]["organization"]["id"])
            verify = auth.post(
                f"/organizations/{org_id}/verify", headers={"Authorization": f"Bearer {self.admin_token}"}
            )
            assert verify.status_code == 200, verify.text
        university = University(token=self.login(email, password), org_id=org_id, name=name, credit_code=credit_code)

        def known_to_market() -> bool:
            with self.client("market") as market:
                return market.get(f"/directory/organizations/{org_id}").status_code == 200

        wait_until(known_to_market, timeout=30, what=f"auth's relay to tell market of the new {kind}")
        return university


def _create_databases(server_url: str, prefix: str) -> dict[str, str]:
    url = make_url(server_url)

    async def create() -> None:
        admin = await asyncpg.connect(
            host=url.host, port=url.port, user=url.username or "postgres", password=url.password, database="postgres"
        )
        try:
            for service in SERVICES:
                await admin.execute(f'CREATE DATABASE "{prefix}_{service}"')
        finally:
            await admin.close()

    asyncio.run(create())
    return {s: url.set(database=f"{prefix}_{s}").render_as_string(hide_password=False) for s in SERVICES}


@contextmanager
def running_topology(root: Path, server_url: str, *, market_workers: int = 2) -> Iterator[Topology]:
    """Migrate fresh databases on ``server_url`` (a PostgreSQL server of the caller's), start every process, wait
    until each service is ready; everything is stopped on exit."""
    database_urls = _create_databases(server_url, f"tmf_{secrets.token_hex(4)}")
    ports = {s: free_port() for s in SERVICES}
    urls = {s: f"http://127.0.0.1:{p}" for s, p in ports.items()}
    env = {
        **base_env(),
        "ENVIRONMENT": "test",
        "DATA_DIR": str(root),
        "AUTH_DATABASE_URL": database_urls["auth"],
        "MARKET_DATABASE_URL": database_urls["market"],
        "SEARCH_DATABASE_URL": database_urls["search"],
        "AUTH_URL": urls["auth"],
        "AUTH_MARKET_URL": urls["market"],
        "MARKET_SEARCH_URL": urls["search"],
        "SEARCH_MARKET_URL": urls["market"],
        "SEARCH_ENGINE": "embedded",
        "SEARCH_EMBEDDER": "none",
        "AUTH_BOOTSTRAP_ADMIN_EMAIL": TEST_ADMIN_EMAIL,
        "AUTH_BOOTSTRAP_ADMIN_PASSWORD": TEST_ADMIN_PASSWORD,
        "AUTH_PASSWORD_HASH_MEMORY_KIB": "1024",
        "AUTH_PASSWORD_HASH_TIME_COST": "1",
        "AUTH_PASSWORD_HASH_PARALLELISM": "1",
        "AUTH_RELAY_ENABLED": "true",
        "AUTH_RELAY_INTERVAL_SECONDS": "0.2",
        "MARKET_RELAY_ENABLED": "false",
        "MARKET_RELAY_INTERVAL_SECONDS": "0.2",
        # A search outage of a few seconds is retried within seconds, not after the default's minutes of backoff.
        "MARKET_RELAY_MAX_BACKOFF_SECONDS": "1",
        "AUTH_RELAY_MAX_BACKOFF_SECONDS": "1",
        "MARKET_NOTIFICATIONS_STREAM_MAX_SECONDS": "1",
    }
    subprocess.run(  # noqa: S603  (our own command) — migrate once, before two market workers would race to
        python_argv("migrate", "all"), cwd=REPO_ROOT, env=env, check=True, capture_output=True, timeout=180
    )
    with running_processes(root) as processes:
        processes.start("auth", _uvicorn("services.auth.app:create_app", ports["auth"]), env)
        processes.start("search", _uvicorn("services.search.app:create_app", ports["search"]), env)
        processes.start(
            "market", _uvicorn("services.market.app:create_app", ports["market"], workers=market_workers), env
        )
        processes.start("relay", python_argv("market", "relay"), env)
        topology = Topology(processes=processes, ports=ports, database_urls=database_urls)
        topology.wait_ready()
        topology.admin_token = topology.login(TEST_ADMIN_EMAIL, TEST_ADMIN_PASSWORD)
        yield topology
