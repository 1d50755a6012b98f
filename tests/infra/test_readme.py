"""The README's configuration table names every environment variable the services read."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from services.auth.settings import AuthSettings
from services.market.settings import MarketSettings
from services.search.settings import SearchSettings
from shared.settings import ServiceSettings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("settings_cls", [AuthSettings, MarketSettings, SearchSettings])
def test_every_service_setting_is_documented(settings_cls: type[BaseSettings]) -> None:
    prefix = str(settings_cls.model_config["env_prefix"])
    own = set(settings_cls.model_fields) - set(ServiceSettings.model_fields)
    missing = [f"{prefix}{name.upper()}" for name in own if f"`{prefix}{name.upper()}`" not in README]
    assert not missing, f"README's configuration table lacks {missing}"


def test_common_settings_are_documented() -> None:
    for name in ServiceSettings.model_fields:
        assert name.upper() in README, name
