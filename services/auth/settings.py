"""Settings of the auth service, from AUTH_* environment variables (plain names as a fallback)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

__all__ = ["AuthSettings"]


class AuthSettings(ServiceSettings):
    """Configuration of the auth service."""

    service_name: ClassVar[str] = "auth"
    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore")
