"""Request and response schemas of /market/webhooks."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from shared.text import ShortText

__all__ = [
    "EVENT_TYPES",
    "AttemptPublic",
    "DeliveryPublic",
    "EventType",
    "SecretRotated",
    "TestQueued",
    "WebhookCreate",
    "WebhookCreated",
    "WebhookPublic",
    "WebhookUpdate",
]

EventType = Literal[
    "proposal.received",
    "interest.received",
    "proposal.accepted",
    "proposal.agreed",
    "proposal.declined",
    "proposal.expiring",
    "contract.submitted",
    "contract.registered",
    "contract.rejected",
    "listing.expiring",
    "saved_search.match",
    "saved_search.digest",
    "demand.match",
    "webhook.test",
    "webhook.disabled",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)

Url = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
Description = Annotated[ShortText, StringConstraints(max_length=300)]
EventTypes = Annotated[list[EventType], Field(min_length=1, max_length=len(EVENT_TYPES))]

_URL = "Where the events are POSTed: https (http only to a loopback host outside production); no user:password@."
_TYPES = "The event types this endpoint receives (at least one): " + ", ".join(EVENT_TYPES) + "."


class WebhookCreate(BaseModel):
    """A new endpoint of the caller's organization."""

    model_config = ConfigDict(extra="forbid")

    url: Url = Field(description=_URL)
    event_types: EventTypes = Field(description=_TYPES)
    description: Description | None = Field(default=None, description="A note for the organization's admins.")


class WebhookUpdate(BaseModel):
    """A partial update: only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    url: Url | None = Field(default=None, description=_URL)
    event_types: EventTypes | None = Field(default=None, description=_TYPES)
    description: Description | None = Field(default=None, description="A note for the admins; null clears it.")
    enabled: StrictBool | None = Field(
        default=None, description="false stops deliveries (pending ones are cancelled); true re-enables it."
    )


class WebhookPublic(BaseModel):
    """An endpoint, without its secret."""

    id: uuid.UUID = Field(description="Endpoint id (UUIDv7).")
    org_id: uuid.UUID = Field(description="The organization whose events it receives.")
    url: str = Field(description="Where the events are POSTed.")
    description: str | None = Field(description="A note for the organization's admins.")
    event_types: list[str] = Field(description="The event types it receives.")
    enabled: bool = Field(description="false: it receives nothing (disabled by an admin or after 24 h of failures).")
    disabled_at: dt.datetime | None = Field(description="When it was disabled (UTC); null while enabled.")
    disabled_reason: str | None = Field(description="Why it was disabled; null while enabled.")
    previous_secret_expires_at: dt.datetime | None = Field(
        description="Until when the secret before the last rotation still signs deliveries (UTC); null if none."
    )
    created_at: dt.datetime = Field(description="When it was created (UTC).")
    updated_at: dt.datetime = Field(description="When it last changed (UTC).")
    version: int = Field(description="Grows by one on every change; the ETag is built from it.")


class WebhookCreated(WebhookPublic):
    """The new endpoint with its signing secret — shown this once, never again."""

    secret: str = Field(description="The signing secret, `whsec_` + base64. Shown only in this response.")


class SecretRotated(BaseModel):
    """The new signing secret — shown this once."""

    secret: str = Field(description="The new signing secret, `whsec_` + base64. Shown only in this response.")
    previous_secret_expires_at: dt.datetime = Field(
        description="Until when the previous secret also signs deliveries (UTC, 24 h from now)."
    )


class TestQueued(BaseModel):
    """A webhook.test event waiting for the next delivery round."""

    delivery_id: uuid.UUID = Field(description="The delivery id, sent as the `webhook-id` header.")


class AttemptPublic(BaseModel):
    """One POST of a delivery."""

    attempted_at: dt.datetime = Field(description="When the request was sent (UTC).")
    status_code: int | None = Field(description="The receiver's HTTP status; null when no response came.")
    latency_ms: int = Field(description="Milliseconds from sending to the end of the (capped) response.")
    error: str | None = Field(description="What went wrong (timeout, refused address, non-2xx…); null on success.")


class DeliveryPublic(BaseModel):
    """One event sent (or to be sent) to the endpoint."""

    id: uuid.UUID = Field(description="The delivery id, sent as the `webhook-id` header on every attempt.")
    event_type: str = Field(description="The event type.")
    status: str = Field(
        description="pending (waiting for an attempt or a retry), succeeded, failed (24 h of failures), "
        "cancelled (the endpoint was disabled)."
    )
    created_at: dt.datetime = Field(description="When the event was enqueued (UTC).")
    next_attempt_at: dt.datetime | None = Field(description="When the next attempt is due (UTC); null when done.")
    attempts: list[AttemptPublic] = Field(description="Every attempt, oldest first.")
