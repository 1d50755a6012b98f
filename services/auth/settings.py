"""Settings of the auth service, from AUTH_* environment variables (plain names as a fallback)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from shared.outbox.settings import RelaySettings
from shared.settings import DEV_SECRET_PREFIX

__all__ = ["AuthSettings", "ServiceClientConfig"]


class ServiceClientConfig(BaseModel):
    """A machine client the auth service makes sure exists at startup (the market relay, the search indexer)."""

    model_config = ConfigDict(extra="forbid")

    client_id: str = Field(min_length=3, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]{2,63}$")
    client_secret: SecretStr = Field(description="Its secret; stored hashed (argon2id).")
    scopes: list[str] = Field(default_factory=list, description="Scopes its client_credentials tokens may carry.")
    purpose: str = Field(
        default="a service of the platform depends on it",
        max_length=200,
        description="What depends on it; quoted when the API refuses to disable it or change its scopes.",
    )


def _default_service_clients() -> list[ServiceClientConfig]:
    # market-relay: market's outbox relay to search, and market's directory rebuild from GET /auth/organizations;
    # search-indexer: search's reindex from market; auth-relay: auth's own relay, feeding market's directory.
    wanted = {
        "market-relay": (
            ["search:ingest", "auth:directory"],
            "search follows market through it, and market rebuilds its organization directory with it",
        ),
        "search-indexer": (["market:read"], "search reindexes from market with it"),
        "auth-relay": (["market:directory"], "market's organization directory follows auth through it"),
    }
    return [
        ServiceClientConfig(
            client_id=client_id,
            client_secret=SecretStr(DEV_SECRET_PREFIX + client_id),
            scopes=scopes,
            purpose=purpose,
        )
        for client_id, (scopes, purpose) in wanted.items()
    ]


OWASP_MIN_MEMORY_KIB = 19_456
OWASP_MIN_TIME_COST = 2
MIN_ACCESS_TOKEN_TTL_SECONDS = 60


class AuthSettings(RelaySettings):
    """Configuration of the auth service. The relay fields (AUTH_RELAY_*) come from shared.outbox.settings: the
    relay delivers organization events from auth_outbox to {market_url}/directory/organizations."""

    service_name: ClassVar[str] = "auth"
    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore")

    market_url: str = Field(
        default="http://127.0.0.1:8000/market",
        description="Base URL of the market service; the outbox relay POSTs organization events to "
        "{market_url}/directory/organizations.",
    )
    relay_client_id: str = Field(default="auth-relay", description="OAuth2 client of the outbox relay.")
    relay_client_secret: SecretStr = Field(
        default=SecretStr(DEV_SECRET_PREFIX + "auth-relay"),
        description="Secret of the relay's OAuth2 client (refused at its dev default in production).",
    )
    relay_scope: str = Field(default="market:directory", description="Scope the relay's token asks for.")

    access_token_ttl_seconds: int = Field(
        default=900,
        ge=1,
        le=86_400,
        description="Lifetime of access tokens (AUTH_ACCESS_TOKEN_TTL_SECONDS); at least 60 outside environment=test. "
        "Also the shortest interval between two key rotations through the API.",
    )
    refresh_token_ttl_seconds: int = Field(
        default=30 * 86_400, ge=300, description="Lifetime of a refresh token family (AUTH_REFRESH_TOKEN_TTL_SECONDS)."
    )
    bootstrap_admin_email: str | None = Field(
        default=None, description="With the password: the platform admin created at startup when none exists."
    )
    bootstrap_admin_password: SecretStr | None = Field(default=None, description="Password of the bootstrap admin.")
    bootstrap_admin_name: str = Field(default="Platform administrator", description="Display name of that admin.")
    center_name: str = Field(
        default="国家技术转移西南中心", description="Name of the center organization created by the bootstrap."
    )
    center_region_code: str = Field(default="510100", description="Region code of the center (成都市).")
    password_hash_memory_kib: int = Field(
        default=65_536,
        ge=8,
        description="argon2id memory cost in KiB; at least OWASP's minimum 19456 (19 MiB) outside environment=test.",
    )
    password_hash_time_cost: int = Field(
        default=3, ge=1, description="argon2id iterations; at least 2 outside environment=test."
    )
    password_hash_parallelism: int = Field(default=1, ge=1, le=16, description="argon2id lanes.")
    login_max_failures: int = Field(
        default=5, ge=1, description="Failed logins per account within the window before 429."
    )
    login_max_failures_per_ip: int = Field(
        default=100,
        ge=1,
        description="Failed logins per client IP within the window before 429 (AUTH_LOGIN_MAX_FAILURES_PER_IP): "
        "higher than the account limit, since a campus or company may log in from behind one NAT address.",
    )
    login_window_seconds: int = Field(default=900, ge=1, description="The failed-login window (15 minutes).")
    key_publish_ahead_seconds: int = Field(
        default=330,
        ge=0,
        description="Default delay between publishing a rotated key in the JWKS and signing with it: longer than "
        "the verifiers' JWKS cache (300 s) plus leeway, so every service knows the key before its first token.",
    )
    service_clients: list[ServiceClientConfig] = Field(
        default_factory=_default_service_clients,
        description="Machine clients ensured at startup (AUTH_SERVICE_CLIENTS, a JSON list of "
        "{client_id, client_secret, scopes}).",
    )

    @model_validator(mode="after")
    def _refuse_weak_password_hashing(self) -> AuthSettings:
        # Below OWASP's argon2id minimum only the test suite may go: it hashes thousands of passwords, and the
        # algorithm and code path stay the same (tests/auth checks the real defaults separately).
        if self.environment != "test" and (
            self.password_hash_memory_kib < OWASP_MIN_MEMORY_KIB or self.password_hash_time_cost < OWASP_MIN_TIME_COST
        ):
            raise ValueError(
                f"argon2id needs at least m={OWASP_MIN_MEMORY_KIB} KiB and t={OWASP_MIN_TIME_COST} "
                "(OWASP's minimum) outside environment=test"
            )
        return self

    @model_validator(mode="after")
    def _refuse_short_token_lifetimes(self) -> AuthSettings:
        # Seconds-long lifetimes let the test suite see tokens and key rotations age without faking the clock.
        if self.environment != "test" and self.access_token_ttl_seconds < MIN_ACCESS_TOKEN_TTL_SECONDS:
            raise ValueError(
                f"access_token_ttl_seconds must be at least {MIN_ACCESS_TOKEN_TTL_SECONDS} outside environment=test"
            )
        return self

    @model_validator(mode="after")
    def _refuse_dev_client_secrets_in_production(self) -> AuthSettings:
        if self.environment == "production":
            for client in self.service_clients:
                secret = client.client_secret.get_secret_value()
                if not secret or secret.startswith(DEV_SECRET_PREFIX):
                    raise ValueError(
                        f"service_clients[{client.client_id}].client_secret must be set to a real secret "
                        "when environment=production"
                    )
        return self
