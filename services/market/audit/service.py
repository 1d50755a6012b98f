"""Append to and read the audit trail (see the package docstring)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from services.market.audit.models import AuditEvent
from services.market.audit.repository import AuditRepository
from services.market.audit.schemas import AuditEventPublic
from shared.clock import utcnow
from shared.pagination import Page, cursor_after, cursor_id
from shared.requestid import current_request_id
from shared.security import Principal

__all__ = ["SYSTEM_ACTOR", "history", "history_as", "record"]

SYSTEM_ACTOR = "system"

T = TypeVar("T")


async def record(
    *,
    session: AsyncSession,
    entity_kind: str,
    entity_id: uuid.UUID,
    action: str,
    from_status: str | None,
    to_status: str | None,
    actor: Principal | None,
    details: dict[str, Any] | None = None,
    flush: bool = True,
) -> AuditEvent:
    """Append one audit row in the caller's transaction (``actor=None`` is the platform itself).

    ``flush=False`` only adds it to the session, for bulk writers that flush once per batch.
    """
    event = AuditEvent(
        entity_kind=entity_kind,
        entity_id=entity_id,
        action=action,
        from_status=from_status,
        to_status=to_status,
        actor_subject=actor.subject if actor is not None else SYSTEM_ACTOR,
        actor_org_id=actor.org_id if actor is not None else None,
        request_id=current_request_id(),
        occurred_at=utcnow(),
        details=details,
    )
    await AuditRepository.from_session(session).add(event, flush=flush)
    return event


async def history(
    *, session: AsyncSession, entity_kind: str, entity_id: uuid.UUID, limit: int = 50, cursor: str | None = None
) -> Page[AuditEventPublic]:
    """One page of an entity's history, oldest first."""
    return await history_as(
        session=session,
        entity_kind=entity_kind,
        entity_id=entity_id,
        limit=limit,
        after=cursor_id(cursor),
        view=AuditEventPublic.model_validate,
    )


async def history_as(
    *,
    session: AsyncSession,
    entity_kind: str,
    entity_id: uuid.UUID,
    limit: int,
    after: uuid.UUID | None,
    view: Callable[[AuditEvent], T],
) -> Page[T]:
    """One page of an entity's history after the event ``after`` (a decoded cursor), each row shown by ``view``.

    For a domain whose history endpoint predates this trail and keeps its own response schema (contracts).
    """
    rows = await AuditRepository.from_session(session).list_for(
        entity_kind=entity_kind, entity_id=entity_id, after=after, limit=limit + 1
    )
    next_cursor = cursor_after(rows, limit, id_of=lambda row: row.id)
    return Page(items=[view(row) for row in rows[:limit]], next_cursor=next_cursor)
