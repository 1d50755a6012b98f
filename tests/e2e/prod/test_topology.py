"""End to end against the production topology (`make prod`, infra/prod.py) over real sockets: nginx in front of auth,
market (2 worker processes), search and the two relays, each its own OS process with ENVIRONMENT=production, on
PostgreSQL. One topology serves the whole module (starting it takes ~20 s).

- the gateway exposes the embedded default's URLs (/, /auth, /market, /search, /dashboard) and OpenAPI `servers`
  say so;
- the README walkthrough (docs/walkthrough.sh) runs through with BASE_URL at the gateway;
- search follows market through the relay process;
- a token from the auth process verifies at market and search (JWKS over HTTP), a forged one nowhere;
- live notifications (SSE) come through the gateway unbuffered;
- a key rotation through the admin API while authenticated requests keep flowing: none answers 401.

docs/notifications-demo.sh is not run here: its webhook receiver listens on http://127.0.0.1, which production
refuses by design (https and public addresses only, services/market/webhooks/ssrf.py).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from infra.prod import PROCESS_NAMES, Topology
from tests.conftest import REPO_ROOT, REQUIRE_POSTGRES, TEST_ADMIN_EMAIL, TEST_ADMIN_PASSWORD
from tests.market.helpers import achievement_body
from tests.support.server import make_actor_tokens
from tests.support.topology import missing_prerequisites, topology_for_tests

WALKTHROUGH = REPO_ROOT / "docs" / "walkthrough.sh"


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    missing = missing_prerequisites()
    if missing:
        if REQUIRE_POSTGRES:
            pytest.fail(f"the production topology needs {', '.join(missing)}")
        pytest.skip(f"the production topology needs {', '.join(missing)}")
    env = {
        # The shortest lifetime production accepts: the admin API allows one rotation per token lifetime.
        "AUTH_ACCESS_TOKEN_TTL_SECONDS": "60",
        # Quick relay rounds: search follows market within a second.
        "MARKET_RELAY_INTERVAL_SECONDS": "0.2",
    }
    with topology_for_tests(tmp_path_factory.mktemp("prod"), env=env) as running:
        yield running
        started = [running.pid(name) for name in PROCESS_NAMES] + running.market_worker_pids()
    # Stopped cleanly: no process of the topology outlives it (market's workers included).
    alive = [pid for pid in started if pid is not None and Path(f"/proc/{pid}").exists()]
    assert not alive, f"processes left running: {alive}"


def login(client: httpx.Client, email: str = TEST_ADMIN_EMAIL, password: str = TEST_ADMIN_PASSWORD) -> str:
    response = client.post("/auth/token", data={"grant_type": "password", "username": email, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def kid_of(token: str) -> str:
    header = token.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])


def test_the_gateway_serves_the_urls_of_the_embedded_default(topology: Topology) -> None:
    with httpx.Client(base_url=topology.base_url, timeout=10) as client:
        index = client.get("/").json()
        assert index["services"]["market"] == {
            "docs": "/market/docs",
            "openapi": "/market/openapi.json",
            "health": "/market/healthz",
        }
        for name in ("auth", "market", "search"):
            assert client.get(f"/{name}/healthz").json() == {"status": "ok", "service": name}
            assert client.get(f"/{name}/readyz").json() == {"status": "ready", "service": name}
            spec = client.get(f"/{name}/openapi.json").json()
            assert spec["servers"] == [{"url": f"/{name}"}]  # paths in the spec are relative to the prefix
            assert client.get(f"/{name}/docs").status_code == 200
        # The gateway's own liveness, and the readiness of the whole (auth, market and search each ready).
        assert client.get("/healthz").json() == {"status": "ok", "service": "gateway"}
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["services"] == {"auth": "ready", "market": "ready", "search": "ready"}
        missing = client.get("/nowhere")
        assert missing.status_code == 404
        assert missing.json()["type"] == "urn:techmarket:problem:not-found"
        # The dashboard: the gateway's /dashboard reaches market's root, which serves it under /market too.
        for prefix in ("", "/market"):
            page = client.get(f"{prefix}/dashboard")
            assert page.status_code == 200, prefix
            assert page.headers["content-type"].startswith("text/html"), prefix
            script = client.get(f"{prefix}/dashboard/static/dashboard.js")
            assert script.status_code == 200
            assert script.headers["content-type"].startswith("text/javascript")
            assert client.get(f"{prefix}/dashboard/vendor/echarts.min.js").status_code == 200, prefix
        assert client.get("/market/stats/cumulative").status_code == 200  # anonymous statistics, as in `make run`
    # Each process of the topology is addressable, and market runs two workers.
    assert all(topology.is_running(name) for name in ("auth", "market", "search", "relay", "auth-relay", "gateway"))
    assert len(topology.market_worker_pids()) == 2


def test_the_services_run_in_production_mode(topology: Topology) -> None:
    # Production refuses what development allows, e.g. a plain-http webhook to a loopback receiver.
    with httpx.Client(base_url=topology.base_url, timeout=30) as client:
        tokens = make_actor_tokens(topology.base_url)
        response = client.post(
            "/market/webhooks",
            json={"url": "http://127.0.0.1:9/hook", "events": ["notification.created"]},
            headers=bearer(tokens["university_admin"]),
        )
        assert response.status_code == 422, response.text


def test_the_services_see_the_client_address_the_gateway_saw(topology: Topology) -> None:
    """A failed login is counted per client IP: behind the gateway that is the address nginx saw, never one the
    client wrote into X-Forwarded-For itself."""
    account = f"nobody-{time.monotonic_ns()}@xff.test"
    with httpx.Client(base_url=topology.base_url, timeout=10) as client:
        failed = client.post(
            "/auth/token",
            data={"grant_type": "password", "username": account, "password": "wrong-password-1"},
            headers={"X-Forwarded-For": "203.0.113.7"},
        )
        assert failed.status_code == 400, failed.text

    async def recorded() -> list[str]:
        url = topology.database_urls["auth"].replace("+asyncpg", "")
        connection = await asyncpg.connect(url)
        try:
            rows = await connection.fetch("SELECT ip FROM auth_login_failures WHERE account = $1", account)
        finally:
            await connection.close()
        return [row["ip"] for row in rows]

    assert asyncio.run(recorded()) == ["127.0.0.1"]


def test_the_walkthrough_runs_through_the_gateway(topology: Topology) -> None:
    if shutil.which("curl") is None or shutil.which("jq") is None:
        pytest.skip("docs/walkthrough.sh needs curl and jq")
    env = {
        **os.environ,
        "BASE_URL": topology.base_url,
        "ADMIN_EMAIL": TEST_ADMIN_EMAIL,
        "ADMIN_PASSWORD": TEST_ADMIN_PASSWORD,
    }
    result = subprocess.run(  # noqa: S603
        [shutil.which("bash") or "/bin/bash", str(WALKTHROUGH)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr + topology.log("market", 3000)
    assert "== 11." in result.stdout
    assert '"registered_count":1' in result.stdout


def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.2)


def test_search_follows_market_through_the_relay_process(topology: Topology) -> None:
    tokens = make_actor_tokens(topology.base_url)
    seller = bearer(tokens["university_admin"])
    title = "一种基于钙钛矿量子点的柔性荧光传感薄膜"
    with httpx.Client(base_url=topology.base_url, timeout=30) as client:
        created = client.post("/market/achievements", json=achievement_body(title=title), headers=seller)
        assert created.status_code == 201, created.text
        listing_id = created.json()["id"]

        def found() -> bool:
            hits = client.get("/search/achievements", params={"q": "钙钛矿量子点", "limit": 50}).json()["hits"]
            return listing_id in {hit["id"] for hit in hits}

        assert not found()  # a draft is never searchable
        published = client.post(f"/market/achievements/{listing_id}/publish", headers={**seller, "If-Match": '"v1"'})
        assert published.status_code == 200, published.text
        _wait_for(found, 20, "the published achievement is found through /search")
        current = client.get(f"/market/achievements/{listing_id}", headers=seller)
        withdrawn = client.post(
            f"/market/achievements/{listing_id}/withdraw", headers={**seller, "If-Match": current.headers["etag"]}
        )
        assert withdrawn.status_code == 200, withdrawn.text
        _wait_for(lambda: not found(), 20, "the withdrawn achievement leaves the index")


def test_a_token_from_auth_verifies_at_market_and_search(topology: Topology) -> None:
    with httpx.Client(base_url=topology.base_url, timeout=10) as client:
        token = login(client)
        # Both market workers and search verify it with the JWKS they fetched from the auth process.
        for _ in range(6):
            assert client.get("/market/notifications", headers=bearer(token)).status_code == 200
        assert client.get("/search/status", headers=bearer(token)).status_code == 200
        assert client.get("/auth/me", headers=bearer(token)).status_code == 200
        header, payload, signature = token.split(".")
        forged = f"{header}.{payload}.{signature[:-4]}AAAA"
        assert client.get("/market/notifications", headers=bearer(forged)).status_code == 401
        assert client.get("/search/status", headers=bearer(forged)).status_code == 401
        assert client.get("/search/status").status_code == 401


def test_live_notifications_come_through_the_gateway_unbuffered(topology: Topology) -> None:
    with httpx.Client(base_url=topology.base_url, timeout=10) as client:
        token = login(client)
        started = time.monotonic()
        with client.stream("GET", "/market/notifications/stream", headers=bearer(token)) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            # The `retry:` hint is a few bytes: a buffering proxy would hold it back until the stream ends.
            first = next(stream.iter_lines())
            assert first.startswith("retry:"), first
        assert time.monotonic() - started < 5


def test_a_key_rotation_while_requests_are_in_flight_fails_none(topology: Topology) -> None:
    publish_ahead = 12  # longer than the verifiers' minimum refetch interval (10 s): no 401 by design
    failures: list[str] = []
    kids_seen: set[str] = set()
    done = threading.Event()

    def traffic() -> None:
        # Fresh tokens every second (so tokens of the new key enter the loop as soon as it signs), each used at
        # market (either worker) and search; older tokens keep being used too.
        with httpx.Client(base_url=topology.base_url, timeout=10) as client:
            tokens: list[str] = []
            last_login = 0.0
            while not done.is_set():
                if time.monotonic() - last_login > 1.0:
                    tokens = [*tokens[-3:], login(client)]
                    kids_seen.add(kid_of(tokens[-1]))
                    last_login = time.monotonic()
                for token in tokens:
                    for path in ("/market/notifications", "/search/status"):
                        response = client.get(path, headers=bearer(token))
                        if response.status_code != 200:
                            failures.append(f"{path} kid={kid_of(token)}: {response.status_code} {response.text}")

    with httpx.Client(base_url=topology.base_url, timeout=10) as client:
        admin = login(client)
        old_kid = kid_of(admin)
        worker = threading.Thread(target=traffic, daemon=True)
        worker.start()
        try:
            deadline = time.monotonic() + 90
            while True:
                rotated = client.post(
                    "/auth/keys/rotate", json={"publish_ahead_seconds": publish_ahead}, headers=bearer(admin)
                )
                if rotated.status_code != 409 or time.monotonic() > deadline:
                    break
                # The newest key is younger than a token lifetime (60 s here): wait as told.
                time.sleep(min(float(rotated.headers.get("Retry-After", "5")), 30))
                admin = login(client)
            assert rotated.status_code == 201, rotated.text
            new_kid = rotated.json()["kid"]
            assert new_kid != old_kid
            _wait_for(lambda: new_kid in kids_seen, publish_ahead + 15, "a token signed with the new key")
            time.sleep(2)  # and a few rounds of requests with it
        finally:
            done.set()
            worker.join(timeout=30)
    assert not failures, failures[:5]
    assert {old_kid, new_kid} <= kids_seen
