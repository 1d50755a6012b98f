"""Response schemas of /market/notifications."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, Field

__all__ = ["NotificationPublic", "ReadAllPublic", "UnreadCount"]


class NotificationPublic(BaseModel):
    """One notification of the caller's inbox."""

    id: uuid.UUID = Field(description="Notification id (UUIDv7, time-ordered).")
    type: str = Field(
        description="What happened: proposal.received, proposal.accepted, proposal.agreed, proposal.declined, "
        "interest.received, contract.submitted, contract.registered, contract.rejected, saved_search.match (a "
        "new listing matches one of your saved searches), saved_search.digest (the day's matches of a daily saved "
        "search), demand.match (a new achievement matches your organization's open demand), proposal.expiring, listing.expiring, webhook.disabled (an endpoint failed for 24 h and was disabled)."
    )
    subject_type: str = Field(
        description="What it is about: proposal, contract, achievement, demand, saved_search (a digest) or webhook."
    )
    subject_id: uuid.UUID = Field(description="The id of the proposal, contract, listing, saved search or webhook.")
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


class ReadAllPublic(BaseModel):
    """The result of marking everything read."""

    read: int = Field(description="How many notifications this call marked read.")
