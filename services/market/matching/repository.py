"""All SQL of matching: one batched read of the candidate listings search proposed."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import or_, select

from services.market.listings.models import Listing
from services.market.listings.repository import ListingRepository

__all__ = ["MatchingRepository"]


class MatchingRepository(ListingRepository):
    """The listing repository of one table (``model``) plus the reads suggestions need."""

    async def suggestible(
        self,
        ids: Sequence[uuid.UUID],
        *,
        status: str,
        expiry_field: str,
        today: dt.date,
        not_owner_org_id: uuid.UUID,
        not_id: uuid.UUID,
    ) -> list[Listing]:
        """The rows among ``ids`` that may be suggested now: in ``status``, not past their last day, not of
        ``not_owner_org_id``, not ``not_id`` (search's copy may lag behind market; this is the truth)."""
        if not ids:
            return []
        expiry = self._c(expiry_field)
        query = select(self.model).where(
            self._c("id").in_(list(ids)),
            self._c("id") != not_id,
            self._c("status") == status,
            self._c("owner_org_id") != not_owner_org_id,
            or_(expiry.is_(None), expiry >= today),
        )
        return list((await self.session.execute(query)).scalars())
