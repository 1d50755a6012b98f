"""Settings of the contract statistics (MARKET_STATS_* environment variables), kept apart from MarketSettings."""

from __future__ import annotations

import datetime as dt

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["StatsSettings"]


class StatsSettings(BaseSettings):
    """The cumulative target: default 6000亿元 of contract amount from 2021-01-01 to 2025-12-31."""

    model_config = SettingsConfigDict(env_prefix="MARKET_STATS_", extra="ignore")

    target_fen: int = Field(default=60_000_000_000_000, gt=0, description="Target contract amount in fen.")
    target_since: dt.date = Field(default=dt.date(2021, 1, 1))
    target_until: dt.date = Field(default=dt.date(2025, 12, 31))

    @model_validator(mode="after")
    def _ordered(self) -> StatsSettings:
        if self.target_until < self.target_since:
            raise ValueError("target_until is before target_since")
        return self
