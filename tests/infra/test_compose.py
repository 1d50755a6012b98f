"""docker-compose.yml cannot be run here (no Docker engine), so check that it agrees with the code.

Every environment variable a service container is given must be one its settings read, every dependency must be
a service of the file, and every service container must run a service the entry point knows.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from infra.entrypoint import ENTRYPOINT_VARIABLES as ENTRYPOINT_ENV
from infra.entrypoint import RELAYS, SERVICE_APPS
from services.auth.settings import AuthSettings
from services.market.settings import MarketSettings
from services.search.settings import SearchSettings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS: dict[str, type[BaseSettings]] = {
    "auth": AuthSettings,
    "market": MarketSettings,
    "search": SearchSettings,
    "relay": MarketSettings,
    "auth-relay": AuthSettings,
}
ENTRYPOINT_VARIABLES = set(ENTRYPOINT_ENV)


def load_compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def variables_read_by(settings_cls: type[BaseSettings]) -> set[str]:
    """Every environment variable name the settings class reads: prefixed and plain."""
    prefix = str(settings_cls.model_config.get("env_prefix", ""))
    names: set[str] = set()
    for field in settings_cls.model_fields:
        names.add(f"{prefix}{field}".upper())
        names.add(field.upper())
    return names


def app_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: spec
        for name, spec in compose["services"].items()
        if isinstance(spec.get("environment"), dict) and "SERVICE" in spec["environment"]
    }


def test_every_service_container_runs_a_known_service() -> None:
    services = app_services(load_compose())
    assert {"auth", "market", "search"} <= {spec["environment"]["SERVICE"] for spec in services.values()}
    for spec in services.values():
        assert spec["environment"]["SERVICE"] in [*SERVICE_APPS, *RELAYS]


@pytest.mark.parametrize("name", ["auth", "market", "search", "relay", "auth-relay"])
def test_environment_variables_exist_in_settings(name: str) -> None:
    compose = load_compose()
    containers = [s for s in app_services(compose).values() if s["environment"]["SERVICE"] == name]
    assert containers, f"no container runs {name}"
    known = variables_read_by(SETTINGS[name]) | ENTRYPOINT_VARIABLES
    for spec in containers:
        unknown = set(spec["environment"]) - known
        assert not unknown, f"{name}: variables no setting reads: {sorted(unknown)}"


def test_each_relay_reads_the_settings_of_its_service() -> None:
    assert {name: SETTINGS[name] for name in RELAYS} == {name: SETTINGS[service] for name, service in RELAYS.items()}


def test_relays_run_outside_the_api_containers() -> None:
    """Production runs each relay in its own container: the API containers do not start one in their lifespan."""
    services = app_services(load_compose())
    assert services["auth"]["environment"]["AUTH_RELAY_ENABLED"] == "false"
    assert services["market"]["environment"]["MARKET_RELAY_ENABLED"] == "false"
    assert {spec["environment"]["SERVICE"] for spec in services.values()} >= set(RELAYS)
    assert services["auth-relay"]["environment"]["AUTH_MARKET_URL"] == "http://market:8000/market"


def test_service_clients_grant_the_scopes_of_the_directory_feed() -> None:
    """auth-relay posts to market's directory; market-relay also reads auth's whole directory (the rebuild)."""
    import json

    for name in ("auth", "auth-relay"):
        clients = json.loads(_substitute(app_services(load_compose())[name]["environment"]["AUTH_SERVICE_CLIENTS"]))
        scopes = {c["client_id"]: sorted(c["scopes"]) for c in clients}
        assert scopes == {
            "market-relay": ["auth:directory", "search:ingest"],
            "search-indexer": ["market:read"],
            "auth-relay": ["market:directory"],
        }
        defaults = {c.client_id: sorted(c.scopes) for c in AuthSettings(environment="test").service_clients}
        assert scopes == defaults


def test_dependencies_are_services_of_the_file() -> None:
    compose = load_compose()
    names = set(compose["services"])
    for spec in compose["services"].values():
        depends = spec.get("depends_on", {})
        for dependency in depends if isinstance(depends, list) else depends.keys():
            assert dependency in names


def test_production_database_urls_use_asyncpg() -> None:
    for spec in app_services(load_compose()).values():
        for key, value in spec["environment"].items():
            if key.endswith("DATABASE_URL"):
                assert str(value).startswith("postgresql+asyncpg://")


def test_the_gateway_is_the_only_published_port() -> None:
    compose = load_compose()
    published = {name: spec["ports"] for name, spec in compose["services"].items() if spec.get("ports")}
    assert published == {"gateway": ["${PORT:-8000}:8000"]}
    assert compose["services"]["gateway"]["environment"]["GATEWAY_LISTEN"] == "8000"


def test_the_gateway_renders_the_template_of_make_prod() -> None:
    """The nginx image renders the same template as infra/prod.py, with every variable it names, and the
    upstreams are the service containers on their port; services are addressed under their prefix."""
    import re

    gateway = load_compose()["services"]["gateway"]
    assert gateway["volumes"] == ["./infra/nginx/gateway.conf.template:/etc/nginx/templates/default.conf.template:ro"]
    template = (ROOT / "infra" / "nginx" / "gateway.conf.template").read_text()
    named = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)\}", template))
    assert named == set(gateway["environment"])
    assert {gateway["environment"][f"{s.upper()}_UPSTREAM"] for s in SERVICE_APPS} == {
        f"{s}:8000" for s in SERVICE_APPS
    }
    for dependency in SERVICE_APPS:
        assert dependency in gateway["depends_on"]
    for spec in app_services(load_compose()).values():
        for key, value in spec["environment"].items():
            if key.endswith("_URL") and str(value).startswith("http://") and ":8000" in str(value):
                service = str(value).split("//")[1].split(":")[0]
                assert str(value) == f"http://{service}:8000/{service}", key


def test_dockerfile_copies_what_the_entrypoint_needs() -> None:
    dockerfile = (ROOT / "infra" / "Dockerfile").read_text()
    for folder in ("shared", "services", "infra"):
        assert f"COPY {folder} ./{folder}" in dockerfile


# Variables that are no secrets but must have their own shape: what a production operator would set.
_STAND_INS = {"TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.10"}


def _substitute(value: object) -> str:
    """Resolve ${VAR}, ${VAR:-default} and ${VAR:?message} as compose would, with a stand-in secret per VAR."""
    import re

    def one(match: re.Match[str]) -> str:
        name, _, default = match.group(1).partition(":-")
        name = name.split(":?")[0]
        if name in _STAND_INS:
            return _STAND_INS[name]
        return default if default and name not in ("POSTGRES_PASSWORD",) else f"prod-secret-of-{name.lower()}"

    return re.sub(r"\$\{([^}]+)\}", one, str(value))


@pytest.mark.parametrize("name", ["auth", "market", "search", "relay", "auth-relay"])
def test_each_container_settings_start_in_production(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the compose file's variables (secrets filled in), the settings accept production mode."""
    for key in list(os.environ):
        if key.startswith(("AUTH_", "MARKET_", "SEARCH_", "MEILI_")) or key in ("DATABASE_URL", "ENVIRONMENT"):
            monkeypatch.delenv(key, raising=False)
    containers = [s for s in app_services(load_compose()).values() if s["environment"]["SERVICE"] == name]
    assert containers
    for key, value in containers[0]["environment"].items():
        monkeypatch.setenv(key, _substitute(value))
    settings = SETTINGS[name]()
    assert getattr(settings, "environment") == "production"  # noqa: B009


def test_meilisearch_is_pinned_to_the_version_the_adapter_was_written_for() -> None:
    """An exact tag (vX.Y.Z): the adapter's settings and the fake follow that version's source."""
    from tests.search.fake_meilisearch.server import VERSION

    image = load_compose()["services"]["meilisearch"]["image"]
    assert image == f"getmeili/meilisearch:v{VERSION}"
    assert (ROOT / "docs" / "search.md").read_text().count(f"v{VERSION}") >= 1


def test_search_starts_only_once_meilisearch_is_healthy() -> None:
    services = load_compose()["services"]
    check = services["meilisearch"]["healthcheck"]
    assert "/health" in " ".join(check["test"])
    assert check["retries"] * int(str(check["interval"]).rstrip("s")) >= 60
    search = [spec for spec in app_services(load_compose()).values() if spec["environment"]["SERVICE"] == "search"]
    assert search
    for spec in search:
        assert spec["depends_on"]["meilisearch"] == {"condition": "service_healthy"}


def test_every_api_container_can_trust_the_gateway() -> None:
    """Each container that serves HTTP takes TRUSTED_PROXIES (its gateway); the relays serve none."""
    for service in app_services(load_compose()).values():
        environment = service["environment"]
        if environment["SERVICE"] in SERVICE_APPS:
            assert environment.get("TRUSTED_PROXIES") == "${TRUSTED_PROXIES:-172.28.0.10}", environment["SERVICE"]
    gateway = load_compose()["services"]["gateway"]
    assert gateway["networks"]["default"]["ipv4_address"] == "172.28.0.10"
