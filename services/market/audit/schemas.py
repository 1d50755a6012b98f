"""Response schema of the history endpoints."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AuditEventPublic"]


class AuditEventPublic(BaseModel):
    """One entry of an entity's history."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID = Field(description="Event id (UUIDv7, time-ordered).")
    entity_kind: str = Field(description="achievement, demand, contract, …")
    entity_id: uuid.UUID
    action: str = Field(description="created, updated, published, withdrawn, expired, …")
    from_status: str | None = Field(description="Status before the change (null on creation).")
    to_status: str | None = Field(description="Status after the change.")
    actor_subject: str = Field(description="The user (token `sub`) who acted, or `system`.")
    actor_org_id: uuid.UUID | None = Field(description="The organization the actor acted for.")
    request_id: str | None = Field(description="X-Request-ID of the request that made the change.")
    occurred_at: dt.datetime
    details: dict[str, Any] | None = Field(default=None, description="E.g. the names of the fields an update changed.")
