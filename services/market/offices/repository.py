"""All SQL of registration offices."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.market.offices.models import offices_table

__all__ = ["OfficeRepository"]

Row = Mapping[Any, Any]


class OfficeRepository:
    """Office SQL on one session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> OfficeRepository:
        """The repository of ``session``."""
        return cls(session)

    async def get(self, office_id: uuid.UUID) -> Row | None:
        """One office."""
        stmt = sa.select(offices_table).where(offices_table.c.id == office_id)
        return (await self.session.execute(stmt)).mappings().first()

    async def insert(self, values: Mapping[str, Any]) -> None:
        """Add an office."""
        await self.session.execute(sa.insert(offices_table).values(dict(values)))

    async def update(self, office_id: uuid.UUID, values: Mapping[str, Any]) -> None:
        """Change an office."""
        await self.session.execute(sa.update(offices_table).where(offices_table.c.id == office_id).values(dict(values)))

    async def serving(self, prefixes: Sequence[str]) -> Row | None:
        """The active office whose region prefix is the longest of ``prefixes`` (oldest first on a tie)."""
        o = offices_table.c
        stmt = (
            sa.select(offices_table)
            .where(o.active.is_(True), o.region_prefix.in_(list(prefixes)))
            .order_by(sa.func.length(o.region_prefix).desc(), o.created_at, o.id)
            .limit(1)
        )
        return (await self.session.execute(stmt)).mappings().first()

    async def list_all(self, *, after_id: uuid.UUID | None, limit: int) -> list[Row]:
        """Offices in id order after a cursor."""
        stmt = sa.select(offices_table).order_by(offices_table.c.id).limit(limit)
        if after_id is not None:
            stmt = stmt.where(offices_table.c.id > after_id)
        return list((await self.session.execute(stmt)).mappings().all())
