"""The inbox tables: one row per notification, and per-user read marks of organization-addressed ones."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, String, Uuid, text
from sqlmodel import Field

from services.market.base import MarketTable
from shared.db import UTCDateTime
from shared.ids import new_id

__all__ = ["Notification", "NotificationMarker", "NotificationRead"]


class Notification(MarketTable, table=True):
    """Addressed to one user (``recipient_user_id``) or to an organization, optionally one role in it.

    A user-addressed row keeps its own ``read_at``; an organization-addressed one is read per user in
    ``notification_reads`` (users live in auth, so market cannot fan out to them at write time).
    """

    __tablename__ = "notifications"
    __table_args__ = (
        # Unread count / unread list of one user: only unread rows are in this index, so it stays small.
        Index(
            "ix_notifications_user_unread",
            "recipient_user_id",
            "id",
            postgresql_where=text("read_at IS NULL"),
            sqlite_where=text("read_at IS NULL"),
        ),
        Index("ix_notifications_user", "recipient_user_id", "id"),
        Index("ix_notifications_org_role", "recipient_org_id", "recipient_role", "id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, sa_column=Column(Uuid, primary_key=True))
    recipient_user_id: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    recipient_org_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid, nullable=True))
    recipient_role: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    type: str = Field(sa_column=Column(String(48), nullable=False))
    subject_type: str = Field(sa_column=Column(String(32), nullable=False))
    subject_id: uuid.UUID = Field(sa_column=Column(Uuid, nullable=False))
    title: str = Field(sa_column=Column(String(300), nullable=False))
    data: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    read_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class NotificationRead(MarketTable, table=True):
    """One user has read one organization-addressed notification."""

    __tablename__ = "notification_reads"

    notification_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("notifications.id", ondelete="CASCADE"), primary_key=True)
    )
    user_id: str = Field(sa_column=Column(String(200), primary_key=True))
    read_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class NotificationMarker(MarketTable, table=True):
    """A notice that is due once per occasion has been recorded: ``type`` about ``subject_id`` for ``occasion``.

    The occasion is what makes the notice due again, e.g. the expiry instant of a proposal: extended later, it is a
    new occasion and a new notice. The primary key is the UNIQUE key: of two processes recording the same notice,
    the second one's insert finds the first one's row (waiting for it to commit on PostgreSQL) and sends nothing.
    """

    __tablename__ = "notification_markers"

    type: str = Field(sa_column=Column(String(48), primary_key=True))
    subject_id: uuid.UUID = Field(sa_column=Column(Uuid, primary_key=True))
    occasion: str = Field(sa_column=Column(String(40), primary_key=True))
    created_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
