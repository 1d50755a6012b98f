"""The audit trail: every state change, with actor, organization, from → to and request id."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlmodel import Field

from services.auth.base import AuthTable
from shared.clock import utcnow
from shared.db import UTCDateTime
from shared.ids import new_id

__all__ = ["AuditEvent"]


class AuditEvent(AuthTable, table=True):
    """One audited change, written in the same transaction as the change."""

    __tablename__ = "auth_audit_events"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    actor: str
    organization_id: uuid.UUID | None = None
    action: str
    subject: str | None = None
    from_state: str | None = None
    to_state: str | None = None
    request_id: str | None = None
