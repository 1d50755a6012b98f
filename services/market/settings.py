"""Settings of the market service, from MARKET_* environment variables (plain names as a fallback)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

__all__ = ["MarketSettings"]


class MarketSettings(ServiceSettings):
    """Configuration of the market service."""

    service_name: ClassVar[str] = "market"
    model_config = SettingsConfigDict(env_prefix="MARKET_", extra="ignore")
