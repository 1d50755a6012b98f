"""Record audit events in the caller's transaction."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.audit.models import AuditEvent
from shared.requestid import current_request_id

__all__ = ["record"]


async def record(
    *,
    session: AsyncSession,
    actor: str,
    action: str,
    organization_id: uuid.UUID | None = None,
    subject: str | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
) -> None:
    """Add one audit event to the session (flushed with the change it describes)."""
    session.add(
        AuditEvent(
            actor=actor,
            action=action,
            organization_id=organization_id,
            subject=subject,
            from_state=from_state,
            to_state=to_state,
            request_id=current_request_id(),
        )
    )
