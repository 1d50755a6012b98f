"""SQL of the audit trail."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.market.audit.models import AuditEvent

__all__ = ["AuditRepository"]


class AuditRepository:
    """Appends to and reads ``market_audit_events``."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> AuditRepository:
        return cls(session)

    async def add(self, event: AuditEvent, *, flush: bool = True) -> None:
        self.session.add(event)
        if flush:
            await self.session.flush()

    async def list_for(
        self, *, entity_kind: str, entity_id: uuid.UUID, after: uuid.UUID | None, limit: int
    ) -> list[AuditEvent]:
        query = select(AuditEvent).where(
            col(AuditEvent.entity_kind) == entity_kind,
            col(AuditEvent.entity_id) == entity_id,
        )
        if after is not None:
            query = query.where(col(AuditEvent.id) > after)
        query = query.order_by(col(AuditEvent.id)).limit(limit)
        return list((await self.session.execute(query)).scalars())
