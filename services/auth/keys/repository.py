"""SQL of the signing keys."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.keys.models import SigningKey

__all__ = ["SigningKeyRepository"]


class SigningKeyRepository:
    """Reads and writes ``auth_signing_keys``."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def all_newest_first(self) -> Sequence[SigningKey]:
        """Every key, the most recently activating first."""
        result = await self.session.execute(
            select(SigningKey).order_by(SigningKey.activates_at.desc(), SigningKey.created_at.desc())  # type: ignore[attr-defined]
        )
        return result.scalars().all()

    async def add(self, key: SigningKey) -> SigningKey:
        """Insert a key."""
        self.session.add(key)
        await self.session.flush()
        return key

    async def delete(self, key: SigningKey) -> None:
        """Remove a key nobody can hold a token of any more."""
        await self.session.delete(key)
        await self.session.flush()
