"""Startup: the bootstrap platform admin, the configured service clients, production refusing dev secrets, and
the CLI's create-admin."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import ValidationError
from typer.testing import CliRunner

from services.auth.app import create_app as create_auth_app
from services.auth.bootstrap import BootstrapError
from services.auth.settings import AuthSettings
from services.cli import app as cli_app
from tests.conftest import Databases

FAST_HASH: dict[str, Any] = {
    "password_hash_memory_kib": 19_456,
    "password_hash_time_cost": 2,
    "password_hash_parallelism": 1,
}


@asynccontextmanager
async def _auth(url: str, tmp_path: Path, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The auth service alone on ``url``, started (lifespan run)."""
    app = create_auth_app(
        AuthSettings(environment="test", data_dir=tmp_path, database_url=url, **FAST_HASH, **settings)
    )
    async with (
        LifespanManager(app, startup_timeout=60) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://auth") as client,
    ):
        yield client


async def _me(client: httpx.AsyncClient, email: str, password: str) -> dict[str, Any]:
    response = await client.post("/token", data={"grant_type": "password", "username": email, "password": password})
    assert response.status_code == 200, response.text
    me = await client.get("/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"})
    result: dict[str, Any] = me.json()
    return result


class TestBootstrap:
    async def test_creates_the_center_and_its_platform_admin_once(self, databases: Databases, tmp_path: Path) -> None:
        url = databases.urls["auth"]
        async with _auth(
            url,
            tmp_path,
            bootstrap_admin_email="Root@Center.example",
            bootstrap_admin_password="first-admin-password",
            center_name="国家技术转移西南中心（测试）",
        ) as client:
            me = await _me(client, "root@center.example", "first-admin-password")
            assert me["roles"] == ["org_admin", "platform_admin"]
            center = me["memberships"][0]["organization"]
            assert (center["kind"], center["status"], center["name"]) == (
                "center",
                "verified",
                "国家技术转移西南中心（测试）",
            )
        # A restart with other bootstrap settings creates no second admin: one exists.
        async with _auth(
            url, tmp_path, bootstrap_admin_email="other@center.example", bootstrap_admin_password="other-admin-password"
        ) as client:
            response = await client.post(
                "/token",
                data={"grant_type": "password", "username": "other@center.example", "password": "other-admin-password"},
            )
            assert response.status_code == 400
            assert (await _me(client, "root@center.example", "first-admin-password"))["roles"] == [
                "org_admin",
                "platform_admin",
            ]

    async def test_without_settings_there_is_no_admin(self, databases: Databases, tmp_path: Path) -> None:
        async with _auth(databases.urls["auth"], tmp_path) as client:
            jwks = (await client.get("/.well-known/jwks.json")).json()
            assert len(jwks["keys"]) == 1  # the signing key is still made at first start
            assert (await login_any(client)).status_code == 400

    async def test_a_weak_bootstrap_password_refuses_to_start(self, databases: Databases, tmp_path: Path) -> None:
        with pytest.raises(BootstrapError):
            async with _auth(
                databases.urls["auth"], tmp_path, bootstrap_admin_email="a@b.cn", bootstrap_admin_password="short"
            ):
                pass

    async def test_service_clients_follow_the_settings(self, databases: Databases, tmp_path: Path) -> None:
        url = databases.urls["auth"]
        async with _auth(url, tmp_path) as client:
            ok = await client.post(
                "/token", data={"grant_type": "client_credentials"}, auth=("market-relay", "dev-insecure-market-relay")
            )
            assert ok.json()["scope"] == "auth:directory search:ingest"
            feed = await client.post(
                "/token", data={"grant_type": "client_credentials"}, auth=("auth-relay", "dev-insecure-auth-relay")
            )
            assert feed.json()["scope"] == "market:directory"
        configured = [
            {"client_id": "market-relay", "client_secret": "a-real-secret-123", "scopes": ["search:ingest", "x:y"]}
        ]
        async with _auth(url, tmp_path, service_clients=configured) as client:
            old = await client.post(
                "/token", data={"grant_type": "client_credentials"}, auth=("market-relay", "dev-insecure-market-relay")
            )
            assert old.status_code == 401
            new = await client.post(
                "/token", data={"grant_type": "client_credentials"}, auth=("market-relay", "a-real-secret-123")
            )
            assert new.json()["scope"] == "search:ingest x:y"


async def login_any(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post(
        "/token", data={"grant_type": "password", "username": "x@y.cn", "password": "whatever-pass"}
    )


class TestProductionSettings:
    def test_refuses_dev_insecure_service_client_secrets(self) -> None:
        with pytest.raises(ValidationError, match="market-relay"):
            AuthSettings(environment="production", relay_client_secret="auth-relay-s3cr3t")  # type: ignore[arg-type]

    def test_refuses_the_dev_insecure_relay_secret(self) -> None:
        real_clients = [{"client_id": "market-relay", "client_secret": "s3cr3t-from-vault", "scopes": []}]
        with pytest.raises(ValidationError, match="relay_client_secret"):
            AuthSettings(environment="production", service_clients=real_clients)  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="relay_client_secret"):
            AuthSettings(environment="production", service_clients=real_clients, relay_client_secret="")  # type: ignore[arg-type]
        # Development and tests keep the dev default.
        assert AuthSettings(environment="development").relay_client_secret.get_secret_value().startswith("dev-")

    def test_accepts_real_secrets(self) -> None:
        settings = AuthSettings(
            environment="production",
            service_clients=[{"client_id": "market-relay", "client_secret": "s3cr3t-from-vault", "scopes": []}],  # type: ignore[list-item]
            relay_client_secret="auth-relay-s3cr3t",  # type: ignore[arg-type]
        )
        assert settings.service_clients[0].client_id == "market-relay"
        assert settings.relay_client_secret.get_secret_value() == "auth-relay-s3cr3t"

    def test_relay_settings(self, monkeypatch: pytest.MonkeyPatch) -> None:
        assert AuthSettings(environment="test").relay_runs_in_app is False
        assert AuthSettings(environment="development").relay_runs_in_app is True
        assert AuthSettings(environment="development", relay_enabled=False).relay_runs_in_app is False
        defaults = AuthSettings()
        assert (defaults.market_url, defaults.relay_client_id, defaults.relay_scope) == (
            "http://127.0.0.1:8000/market",
            "auth-relay",
            "market:directory",
        )
        monkeypatch.setenv("AUTH_MARKET_URL", "http://market:8000")
        monkeypatch.setenv("AUTH_RELAY_ENABLED", "false")
        from_env = AuthSettings()
        assert (from_env.market_url, from_env.relay_runs_in_app) == ("http://market:8000", False)

    def test_reads_service_clients_from_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv(
            "AUTH_SERVICE_CLIENTS",
            '[{"client_id":"market-relay","client_secret":"from-env-1","scopes":["search:ingest"]}]',
        )
        (client,) = AuthSettings().service_clients
        assert client.client_secret.get_secret_value() == "from-env-1"

    def test_argon2_below_owasp_minimum_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="OWASP"):
            AuthSettings(password_hash_memory_kib=8192)
        with pytest.raises(ValidationError, match="OWASP"):
            AuthSettings(environment="development", password_hash_time_cost=1)
        # Only the test suite may go below, to keep its thousands of hashes cheap.
        assert AuthSettings(environment="test", password_hash_memory_kib=1024).password_hash_memory_kib == 1024

    def test_default_argon2_costs_are_above_owasp_minimum(self) -> None:
        settings = AuthSettings()
        assert settings.password_hash_memory_kib >= 19_456
        assert settings.password_hash_time_cost >= 2


class TestCli:
    async def test_create_admin_then_log_in(
        self, databases: Databases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("AUTH_DATABASE_URL", databases.urls["auth"])
        for name, value in FAST_HASH.items():
            monkeypatch.setenv(f"AUTH_{name.upper()}", str(value))
        runner = CliRunner()
        args = ["auth", "create-admin", "--email", "cli@center.example", "--password", "cli-admin-password"]
        result = await asyncio.to_thread(runner.invoke, cli_app, args)
        assert result.exit_code == 0, result.output
        assert "created" in result.output
        weak = await asyncio.to_thread(
            runner.invoke, cli_app, ["auth", "create-admin", "--email", "w@center.example", "--password", "short"]
        )
        assert weak.exit_code != 0
        rotated = await asyncio.to_thread(runner.invoke, cli_app, ["auth", "rotate-key", "--publish-ahead", "0"])
        assert rotated.exit_code == 0, rotated.output
        listed = await asyncio.to_thread(runner.invoke, cli_app, ["auth", "keys"])
        assert listed.output.count("\n") == 2
        assert "active" in listed.output
        assert "retired" in listed.output
        async with _auth(databases.urls["auth"], tmp_path) as client:
            me = await _me(client, "cli@center.example", "cli-admin-password")
            assert "platform_admin" in me["roles"]
            assert len((await client.get("/.well-known/jwks.json")).json()["keys"]) == 2
