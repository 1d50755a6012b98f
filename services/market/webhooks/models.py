"""Webhook tables: an organization's endpoints, the deliveries fanned out to them (the outbox) and each attempt."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, Boolean, Column, ForeignKey, Index, Integer, String, Text, Uuid
from sqlmodel import Field

from services.market.base import MarketTable
from shared.db import UTCDateTime
from shared.ids import new_id

__all__ = ["WebhookAttempt", "WebhookDelivery", "WebhookEndpoint"]


class WebhookEndpoint(MarketTable, table=True):
    """A URL of an organization that receives signed events of the subscribed types.

    The signing secret is stored as is: HMAC needs it (a hash would not do). After a rotation the previous one
    keeps signing until ``previous_secret_expires_at``.
    """

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_org", "org_id", "id"),)

    id: uuid.UUID = Field(default_factory=new_id, sa_column=Column(Uuid, primary_key=True))
    org_id: uuid.UUID = Field(sa_column=Column(Uuid, nullable=False))
    url: str = Field(sa_column=Column(String(2048), nullable=False))
    description: str | None = Field(default=None, sa_column=Column(String(300), nullable=True))
    event_types: list[str] = Field(sa_column=Column(JSON, nullable=False))
    enabled: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    disabled_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    disabled_reason: str | None = Field(default=None, sa_column=Column(String(300), nullable=True))
    secret: str = Field(sa_column=Column(String(100), nullable=False))
    previous_secret: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    previous_secret_expires_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    created_by: str = Field(sa_column=Column(String(200), nullable=False))
    created_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False))


class WebhookDelivery(MarketTable, table=True):
    """One event for one endpoint; its id is the ``webhook-id`` header, the same on every retry.

    ``payload`` is the exact JSON body, fixed when the event is enqueued, so every retry signs the same bytes.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # The delivery round's claim: pending rows whose next attempt is due.
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, sa_column=Column(Uuid, primary_key=True))
    endpoint_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False)
    )
    event_type: str = Field(sa_column=Column(String(48), nullable=False))
    payload: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="pending", sa_column=Column(String(16), nullable=False))
    attempt_count: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    created_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    next_attempt_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    first_attempt_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    finished_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class WebhookAttempt(MarketTable, table=True):
    """One POST of a delivery: when, what came back (or what went wrong) and how long it took."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery", "delivery_id", "id"),)

    id: uuid.UUID = Field(default_factory=new_id, sa_column=Column(Uuid, primary_key=True))
    delivery_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False)
    )
    attempted_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    status_code: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    latency_ms: int = Field(sa_column=Column(Integer, nullable=False))
    error: str | None = Field(default=None, sa_column=Column(String(300), nullable=True))
