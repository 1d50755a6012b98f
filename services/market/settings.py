"""Settings of the market service, from MARKET_* environment variables (plain names as a fallback)."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from shared.db import pooler_of
from shared.outbox.settings import RelaySettings

__all__ = ["MarketSettings"]


class MarketSettings(RelaySettings):
    """Configuration of the market service. The relay fields (MARKET_RELAY_*) come from shared.outbox.settings;
    here the relay delivers to search, and "relay in the app" also runs the statistics fold and maintenance loop."""

    service_name: ClassVar[str] = "market"
    model_config = SettingsConfigDict(env_prefix="MARKET_", extra="ignore")

    search_url: str = Field(
        default="http://techmarket.internal/search",
        description="Base URL of the search service; the outbox relay POSTs to {search_url}/documents, suggestions "
        "to {search_url}/{kind}/similar.",
    )
    search_timeout_seconds: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="How long a suggestion request waits for the search service's similarity answer (503 after).",
    )
    relay_client_id: str = Field(default="market-relay", description="OAuth2 client of the outbox relay.")
    relay_client_secret: SecretStr = Field(
        default=SecretStr("dev-insecure-market-relay"), description="Secret of the relay's OAuth2 client."
    )
    relay_scope: str = Field(default="search:ingest", description="Scope the relay's token asks for.")
    maintenance_interval_seconds: float = Field(
        default=60.0, gt=0, description="Period of the expiry sweep and the purge of old idempotency keys."
    )
    stats_fold_interval_seconds: float = Field(
        default=1.0,
        gt=0,
        description="Pause between rounds of the statistics fold (new deltas into the rollup cells). Statistics are "
        "exact either way; the longer the pause, the more unfolded deltas each query adds up.",
    )
    stats_fold_batch: int = Field(default=2000, ge=1, le=10_000, description="Deltas folded per transaction.")
    idempotency_ttl_hours: int = Field(default=24, ge=24, description="How long Idempotency-Keys are kept.")
    proposal_ttl_days: int = Field(
        default=30,
        ge=1,
        le=365,
        description="How long a proposal (撮合) or a direct interest waits for consent before it expires.",
    )
    notifications_stream_heartbeat_seconds: float = Field(
        default=15.0,
        gt=0,
        le=300,
        description="A live stream sends a `: keepalive` comment after this long without an event, so proxies keep "
        "it open.",
    )
    notifications_stream_poll_seconds: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="Safety net of the live stream: it re-reads the inbox this often even without a wake-up, so a "
        "lost wake-up delays a notification at most this long.",
    )
    notifications_stream_retry_ms: int = Field(
        default=3000, ge=0, le=600_000, description="The `retry:` hint sent at the start of a live stream."
    )
    notifications_stream_max_per_process: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="Live streams one process serves at once; beyond it a new stream is refused with 503.",
    )
    notifications_stream_max_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="A live stream ends after this long (or when its token expires, if sooner); the client "
        "reconnects with Last-Event-ID and misses nothing.",
    )
    notifications_stream_lookback_seconds: float = Field(
        default=10.0,
        ge=0,
        le=300,
        description="How far back a live stream re-reads for rows whose transaction committed after a newer one "
        "(ids are taken at insert, visibility comes at commit).",
    )
    webhook_interval_seconds: float = Field(
        default=2.0, gt=0, description="Pause between webhook delivery rounds when nothing was due."
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="Deadline of one webhook delivery attempt (connect to last byte read)."
    )
    webhook_response_cap_bytes: int = Field(
        default=65_536, ge=1024, description="Bytes of a receiver's answer read before the connection is closed."
    )
    webhook_batch: int = Field(default=50, ge=1, le=1000, description="Deliveries claimed per webhook round.")
    webhook_retry_base_seconds: float = Field(
        default=5.0, gt=0, description="First retry ceiling of a failed webhook delivery; doubles per attempt."
    )
    webhook_retry_cap_seconds: float = Field(
        default=3600.0, gt=0, description="Largest pause between two attempts of one webhook delivery."
    )
    webhook_retry_window_hours: float = Field(
        default=24.0,
        gt=0,
        description="How long after its first attempt a delivery is retried; then it fails and its endpoint is "
        "disabled.",
    )

    saved_searches_per_user: int = Field(
        default=100, ge=1, le=10_000, description="Most saved searches one user may keep per organization (409 beyond)."
    )
    match_alert_interval_seconds: float = Field(
        default=0.5, gt=0, description="Pause between rounds of the match-alert loop (pending alert jobs)."
    )
    match_alert_page: int = Field(
        default=1000,
        ge=1,
        le=10_000,
        description="Saved searches read and sent to search's percolation per round of one alert job.",
    )
    match_alert_retry_seconds: float = Field(
        default=5.0, gt=0, description="First retry delay of an alert job search could not answer (doubles each time)."
    )
    demand_match_min_score: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Lowest suggestion score (docs/market.md) at which a new achievement alerts an open demand.",
    )

    stats_target_fen: int = Field(
        default=60_000_000_000_000,
        gt=0,
        description="Fallback of the headline target's contract amount in fen (default 6000亿元, the 2021–2025 plan's "
        "figure), used only when the seeded target of /market/stats/targets is gone.",
    )
    stats_target_since: dt.date = Field(
        default=dt.date(2021, 1, 1), description="Fallback: first day the headline target counts."
    )
    stats_target_until: dt.date = Field(
        default=dt.date(2025, 12, 31), description="Fallback: last day of the headline target."
    )
    broadcast_database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL of the connection that LISTENs for notification wake-ups; default the "
        "database URL. Required, and direct to PostgreSQL, when the database URL goes through a transaction "
        "pooler (?pooler=pgbouncer): LISTEN needs a session of its own.",
    )

    @property
    def resolved_broadcast_url(self) -> str:
        """Where the notification broadcaster listens: the direct URL if given, else the database URL."""
        return self.broadcast_database_url or self.resolved_database_url

    @model_validator(mode="after")
    def _listen_needs_a_session(self) -> MarketSettings:
        if pooler_of(self.resolved_database_url) is not None and (
            self.broadcast_database_url is None or pooler_of(self.broadcast_database_url) is not None
        ):
            raise ValueError(
                "the database URL goes through a transaction pooler: set MARKET_BROADCAST_DATABASE_URL to a direct "
                "PostgreSQL URL (LISTEN does not work through transaction pooling)"
            )
        return self

    @model_validator(mode="after")
    def _target_period_is_ordered(self) -> MarketSettings:
        if self.stats_target_until < self.stats_target_since:
            raise ValueError("stats_target_until is before stats_target_since")
        return self
