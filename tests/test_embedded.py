"""The embedded default: three services in one app, each with its health, readiness and docs."""

from __future__ import annotations

import pytest

from tests.conftest import Stack

SERVICES = ("auth", "market", "search")


class TestEmbeddedApp:
    @pytest.mark.parametrize("service", SERVICES)
    async def test_health_and_readiness(self, stack: Stack, service: str) -> None:
        health = await stack.client.get(f"/{service}/healthz")
        assert health.status_code == 200
        assert health.json() == {"status": "ok", "service": service}
        ready = await stack.client.get(f"/{service}/readyz")
        assert ready.status_code == 200
        assert ready.json()["status"] == "ready"

    async def test_root_links_every_service_docs(self, stack: Stack) -> None:
        index = (await stack.client.get("/")).json()
        for service in SERVICES:
            docs = index["services"][service]["docs"]
            assert docs == f"/{service}/docs"
            assert (await stack.client.get(docs)).status_code == 200
            spec = await stack.client.get(index["services"][service]["openapi"])
            assert spec.json()["info"]["title"] == f"techmarket {service}"

    async def test_unknown_path_is_a_problem(self, stack: Stack) -> None:
        response = await stack.client.get("/market/does-not-exist")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"

    async def test_one_request_id_per_request(self, stack: Stack) -> None:
        response = await stack.client.get("/market/nowhere", headers={"X-Request-ID": "trace-1"})
        assert response.headers["x-request-id"] == "trace-1"
        assert response.json()["request_id"] == "trace-1"

    async def test_readyz_reports_a_dead_database(self, stack: Stack) -> None:
        await stack.service_app("search").state.engine.dispose()
        stack.service_app("search").state.engine.url  # noqa: B018  (still configured)
        broken = stack.service_app("search")
        from shared.db import create_engine

        broken.state.engine = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
        response = await stack.client.get("/search/readyz")
        assert response.status_code == 503
        assert response.json()["type"] == "urn:techmarket:problem:not-ready"
        assert response.headers["retry-after"] == "5"  # as the OpenAPI document declares for every 503
        await broken.state.engine.dispose()


class TestUnhandledErrors:
    async def test_a_500_in_a_mounted_service_is_logged_once_without_internals(
        self, stack: Stack, caplog: pytest.LogCaptureFixture
    ) -> None:
        market = stack.service_app("market")

        async def boom() -> None:
            raise RuntimeError("secret internals")

        market.add_api_route("/boom-for-test", boom)
        response = await stack.client.get("/market/boom-for-test", headers={"X-Request-ID": "trace-500"})
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["request_id"] == "trace-500"
        assert "secret internals" not in response.text
        logged = [r for r in caplog.records if r.name == "techmarket.errors" and r.levelname == "ERROR"]
        assert len(logged) == 1


class TestStartUp:
    async def test_a_service_whose_database_is_not_open_yet_answers_503_not_500(
        self, stack: Stack, caplog: pytest.LogCaptureFixture
    ) -> None:
        # Embedded, auth's relay can reach market before market's lifespan has opened its database: that is a 503
        # the relay retries (with Retry-After), not an unhandled error logged with a traceback.
        market = stack.service_app("market")
        sessionmaker = market.state.sessionmaker
        del market.state.sessionmaker
        try:
            response = await stack.client.get("/market/achievements")
        finally:
            market.state.sessionmaker = sessionmaker
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"] == "1"
        assert response.json()["type"] == "urn:techmarket:problem:not-ready"
        assert not [r for r in caplog.records if r.name == "techmarket.errors" and r.levelname == "ERROR"]
