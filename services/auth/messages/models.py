"""Messages sent to an email address, recorded in the sending transaction."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlmodel import Field

from services.auth.base import AuthTable
from shared.clock import utcnow
from shared.db import UTCDateTime
from shared.ids import new_id

__all__ = ["OutboundMessage"]


class OutboundMessage(AuthTable, table=True):
    """One message to an address. Embedded and development deployments read them with
    ``techmarket auth messages EMAIL``; a mail relay would deliver them from this table."""

    __tablename__ = "auth_messages"
    __table_args__ = (sa.Index("ix_auth_messages_to", "to", "created_at"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    to: str = Field(sa_type=sa.String(254), description="Recipient address, lower-cased.")
    kind: str = Field(sa_type=sa.String(64), description="What the message is about, e.g. signup.created.")
    subject: str = Field(sa_type=sa.String(200))
    body: str = Field(sa_type=sa.Text())
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
