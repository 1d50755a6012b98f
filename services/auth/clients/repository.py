"""SQL of OAuth2 clients."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.clients.models import Client

__all__ = ["ClientRepository"]

_client = Client.__table__.c  # type: ignore[attr-defined]


class ClientRepository:
    """Reads and writes ``auth_clients``."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_client_id(self, client_id: str) -> Client | None:
        """One client by its client id."""
        result = await self.session.execute(select(Client).where(_client.client_id == client_id))
        return result.scalar_one_or_none()

    async def add(self, client: Client) -> Client:
        """Insert a client."""
        self.session.add(client)
        await self.session.flush()
        return client

    async def page(
        self, *, organization_id: uuid.UUID | None, everything: bool, limit: int, after: uuid.UUID | None
    ) -> Sequence[Client]:
        """Up to limit + 1 clients (all, or one organization's) in id order after ``after``."""
        conditions: list[ColumnElement[bool]] = []
        if not everything:
            conditions.append(_client.organization_id == organization_id)
        if after is not None:
            conditions.append(_client.id > after)
        result = await self.session.execute(
            select(Client).where(and_(true(), *conditions)).order_by(_client.id).limit(limit + 1)
        )
        return result.scalars().all()
