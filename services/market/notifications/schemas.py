"""Response schemas of /market/notifications."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, Field

__all__ = ["NotificationPublic", "ReadAllOut", "UnreadCount"]


class NotificationPublic(BaseModel):
    """One notification of the caller's inbox."""

    id: uuid.UUID = Field(description="Notification id (UUIDv7, time-ordered).")
    type: str = Field(
        description="What happened: proposal.received, proposal.accepted, proposal.agreed, proposal.declined, "
        "proposal.expiring, interest.received, contract.submitted, contract.registered, contract.rejected, "
        "listing.expiring."
    )
    subject_type: str = Field(description="What it is about: proposal, contract, achievement or demand.")
    subject_id: uuid.UUID = Field(description="The id of the proposal, contract or listing it is about.")
    title: str = Field(description="A short human-readable line (Chinese).")
    data: dict[str, Any] | None = Field(default=None, description="Public fields of the event (never contacts).")
    addressed_to: str = Field(
        description="user (to the caller personally) or organization (to the caller's organization or a role in it)."
    )
    created_at: dt.datetime = Field(description="When it was recorded (UTC, ISO 8601).")
    read_at: dt.datetime | None = Field(description="When the caller read it (UTC); null while unread.")


class UnreadCount(BaseModel):
    """How many of the caller's notifications are unread."""

    unread: int = Field(description="Number of unread notifications of the caller.")


class ReadAllOut(BaseModel):
    """The result of marking everything read."""

    read: int = Field(description="How many notifications this call marked read.")
