"""Settings of the search service, from SEARCH_* environment variables (plain names as a fallback)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

__all__ = ["SearchSettings"]


class SearchSettings(ServiceSettings):
    """Configuration of the search service."""

    service_name: ClassVar[str] = "search"
    model_config = SettingsConfigDict(env_prefix="SEARCH_", extra="ignore")

    engine: Literal["embedded", "meilisearch"] | None = Field(
        default=None, description="Search engine; default: meilisearch when MEILI_URL is set, else embedded."
    )
    meili_url: str | None = Field(default=None, description="Meilisearch base URL (production).")
    meili_master_key: SecretStr | None = Field(default=None, description="Meilisearch API key.")
