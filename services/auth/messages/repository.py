"""SQL of outbound messages."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.messages.models import OutboundMessage

__all__ = ["MessageRepository"]

_message = OutboundMessage.__table__.c  # type: ignore[attr-defined]


class MessageRepository:
    """Reads and writes ``auth_messages``."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, message: OutboundMessage) -> None:
        """Insert a message."""
        self.session.add(message)
        await self.session.flush()

    async def to_address(self, to: str) -> Sequence[OutboundMessage]:
        """The messages sent to an address, oldest first."""
        result = await self.session.execute(
            select(OutboundMessage).where(_message.to == to).order_by(_message.created_at, _message.id)
        )
        return result.scalars().all()
