"""SQL of the idempotency keys."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.market.idempotency.models import IdempotencyRecord

__all__ = ["IdempotencyRepository"]


class IdempotencyRepository:
    """Reads and writes ``market_idempotency_keys``."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> IdempotencyRepository:
        return cls(session)

    async def get(self, *, scope: str, key: str) -> IdempotencyRecord | None:
        result = await self.session.execute(
            select(IdempotencyRecord).where(col(IdempotencyRecord.scope) == scope, col(IdempotencyRecord.key) == key)
        )
        return result.scalar_one_or_none()

    async def add(self, record: IdempotencyRecord) -> None:
        self.session.add(record)
        await self.session.flush()

    async def delete(self, record: IdempotencyRecord) -> None:
        await self.session.delete(record)
        await self.session.flush()

    async def delete_expired(self, *, now: dt.datetime) -> int:
        result = await self.session.execute(delete(IdempotencyRecord).where(col(IdempotencyRecord.expires_at) < now))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
