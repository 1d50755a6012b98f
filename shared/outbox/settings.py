"""Settings of a service whose outbox relay runs in its app (unless told otherwise) or as its own process."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr

from shared.settings import ServiceSettings

__all__ = ["RelaySettings"]


class RelaySettings(ServiceSettings):
    """Relay fields; a service subclass gives ``relay_client_id``, ``relay_client_secret`` and ``relay_scope``
    its own defaults (the OAuth2 client the relay authenticates as, against ``{auth_url}/token``)."""

    secret_fields: ClassVar[tuple[str, ...]] = ("relay_client_secret",)

    relay_client_id: str = Field(description="OAuth2 client of the outbox relay.")
    relay_client_secret: SecretStr = Field(description="Secret of the relay's OAuth2 client.")
    relay_scope: str = Field(description="Scope the relay's token asks for.")
    relay_enabled: bool | None = Field(
        default=None,
        description="Run the outbox relay (and the service's other background loops) inside the app. Unset: on, "
        "except when environment=test (tests drive the relay by hand). Production runs it as its own process.",
    )
    relay_interval_seconds: float = Field(
        default=0.5,
        gt=0,
        description="Pause between relay rounds when idle; bounds how long a change waits before it is delivered.",
    )
    relay_batch_size: int = Field(default=100, ge=1, le=1000, description="Events per POST.")
    relay_lease_seconds: float = Field(
        default=60.0, gt=0, description="How long a claimed batch is reserved for one relay before another may retry."
    )
    relay_base_backoff_seconds: float = Field(default=1.0, gt=0, description="First retry delay; doubles per try.")
    relay_max_backoff_seconds: float = Field(default=300.0, gt=0, description="Longest retry delay.")

    @property
    def relay_runs_in_app(self) -> bool:
        """Whether the app's lifespan starts the relay."""
        if self.relay_enabled is None:
            return self.environment != "test"
        return self.relay_enabled
