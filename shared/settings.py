"""Settings common to every service, read from the environment (pydantic-settings).

Each service subclasses :class:`ServiceSettings` with its own prefix (AUTH_, MARKET_, SEARCH_). A few variables
are also read without prefix because one container runs one service: DATABASE_URL, DATA_DIR, ENVIRONMENT.
Outside development, a secret left at its development default refuses to start.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource

from shared.clientaddress import ProxyNetwork, parse_trusted_proxies

__all__ = ["DEV_SECRET_PREFIX", "ServiceSettings"]

# Development defaults of secrets start with this; production refuses them.
DEV_SECRET_PREFIX = "dev-insecure-"


class ServiceSettings(BaseSettings):
    """Fields every service has. Subclasses set ``service_name`` and their ``env_prefix``."""

    service_name: ClassVar[str] = "service"
    secret_fields: ClassVar[tuple[str, ...]] = ()

    environment: Literal["development", "test", "production"] = Field(
        default="development", description="development, test or production. Production refuses dev secrets."
    )
    data_dir: Path = Field(default=Path("var"), description="Folder of the embedded SQLite files and indexes.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default sqlite+aiosqlite:///{data_dir}/{service}.db.",
    )
    database_pool_size: int = Field(default=10, ge=1, le=200)
    database_startup_wait_seconds: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description="How long a starting process waits for an unreachable database (PostgreSQL restarting or failing "
        "over) before its startup fails.",
    )
    log_level: str = "INFO"
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="Largest ordinary request body.")
    import_max_body_bytes: int = Field(
        default=64 * 1_048_576, ge=1024, description="Largest body of a bulk-import request."
    )
    jwt_issuer: str = Field(default="techmarket-auth", description="Expected `iss` of access tokens.")
    jwt_audience: str = Field(default="techmarket", description="Expected `aud` of access tokens.")
    auth_url: str = Field(
        default="http://127.0.0.1:8000/auth",
        description="Base URL of the auth service (JWKS, token endpoint).",
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated IPs or CIDRs of the reverse proxies whose X-Forwarded-For is believed "
        "(TRUSTED_PROXIES). Empty: none, the client address is the TCP peer.",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_proxies(cls, value: str) -> str:
        parse_trusted_proxies(value)  # ValueError names the bad entry
        return value

    @property
    def trusted_proxy_networks(self) -> tuple[ProxyNetwork, ...]:
        """TRUSTED_PROXIES parsed."""
        return parse_trusted_proxies(self.trusted_proxies)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The prefixed variable (MARKET_DATABASE_URL) wins; the plain one (DATABASE_URL) serves a container that
        # runs a single service. In the embedded single process, use the prefixed names.
        plain_env = EnvSettingsSource(settings_cls, env_prefix="")
        return init_settings, env_settings, plain_env, dotenv_settings, file_secret_settings

    @property
    def resolved_database_url(self) -> str:
        """The configured database URL, or the embedded SQLite file under data_dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / (self.service_name + '.db')}"

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> ServiceSettings:
        if self.environment == "production":
            for name in self.secret_fields:
                value = getattr(self, name)
                secret = value.get_secret_value() if hasattr(value, "get_secret_value") else value
                if not secret or str(secret).startswith(DEV_SECRET_PREFIX):
                    raise ValueError(f"{name} must be set to a real secret when environment=production")
        return self
