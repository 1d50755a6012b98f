"""The fault suite's view of the production topology (infra/prod.py, via tests/support/topology.py): the gateway's
URLs, the processes by name, and the few actors the faults need (a verified university, a registration office).

The topology runs as `make prod` does — nginx in front, ENVIRONMENT=production, market with 2 uvicorn workers, the
relay and auth-relay processes — on the PostgreSQL server the caller names (the suite's private cluster, which one
test restarts). One setting differs: relays retry a failed delivery after at most 1 s instead of up to 5 minutes,
so a few seconds of search outage are caught up within seconds.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from infra.prod import PROCESS_NAMES, Topology
from tests.conftest import TEST_ADMIN_EMAIL, TEST_ADMIN_PASSWORD
from tests.faults.processes import wait_until
from tests.support import codes
from tests.support.pgbouncer import PgBouncer
from tests.support.topology import topology_for_tests, topology_through_pgbouncer

__all__ = ["FaultTopology", "University", "running_fault_topology"]

FAULT_ENV = {
    "MARKET_RELAY_MAX_BACKOFF_SECONDS": "1",
    "AUTH_RELAY_MAX_BACKOFF_SECONDS": "1",
    "MARKET_RELAY_INTERVAL_SECONDS": "0.2",
    "AUTH_RELAY_INTERVAL_SECONDS": "0.2",
}


@dataclass
class University:
    """A verified organization and its admin's token (a member who may list achievements and submit contracts)."""

    token: str
    org_id: str
    name: str
    credit_code: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class FaultTopology:
    prod: Topology
    admin_token: str = ""

    def url(self, service: str) -> str:
        """The service's base URL through the gateway (the one origin clients use)."""
        return f"{self.prod.base_url}/{service}"

    def client(self, service: str, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url(service), timeout=kwargs.pop("timeout", 10), **kwargs)

    def logs(self) -> str:
        return "\n".join(f"--- {name} ---\n{self.prod.log(name, 3000)}" for name in PROCESS_NAMES)

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
        market's directory knows it (the auth-relay process)."""
        email = f"tto-{secrets.token_hex(4)}@faults.test"
        password = f"faults-{secrets.token_hex(8)}"
        credit_code = codes.credit_code("510100")
        name = f"故障测试{kind}{secrets.token_hex(2)}"
        with self.client("auth") as auth:
            signup = auth.post(
                "/signup",
                json={
                    "organization": {"name": name, "kind": kind, "credit_code": credit_code, "region_code": "510100"},
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

        wait_until(known_to_market, timeout=30, what=f"the auth relay to tell market of the new {kind}")
        return university


@contextmanager
def running_fault_topology(
    run_dir: Path, admin_url: str, *, bouncer: PgBouncer | None = None
) -> Iterator[FaultTopology]:
    """The production topology on the PostgreSQL server of ``admin_url`` (through ``bouncer``, a PgBouncer in
    front of that server, when given: ``prod.database_urls`` then stay direct); stopped (databases dropped) on exit."""
    if bouncer is None:
        running = topology_for_tests(run_dir, admin_url=admin_url, env=FAULT_ENV)
    else:
        running = topology_through_pgbouncer(run_dir, bouncer=bouncer, server_url=admin_url, env=FAULT_ENV)
    with running as prod:
        topology = FaultTopology(prod=prod)
        topology.admin_token = topology.login(TEST_ADMIN_EMAIL, TEST_ADMIN_PASSWORD)
        yield topology
