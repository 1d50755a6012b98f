"""All SQL of matching: one batched read of the candidate listings search proposed."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, func, or_, select

from services.market.listings.repository import ListingRepository
from services.market.matching.models import KindColumns

__all__ = ["CandidateRow", "MatchingRepository"]

# A candidate as read: the columns by name as attributes (row.title), like a model instance.
CandidateRow = Row[*tuple[Any, ...]]


class MatchingRepository(ListingRepository):
    """The listing repository of one table (``model``) plus the reads suggestions need."""

    async def suggestible(
        self,
        ids: Sequence[uuid.UUID],
        *,
        columns: KindColumns,
        summary_chars: int,
        status: str,
        expiry_field: str,
        today: dt.date,
        not_owner_org_id: uuid.UUID,
        not_id: uuid.UUID,
    ) -> list[CandidateRow]:
        """The rows among ``ids`` that may be suggested now — in ``status``, not past their last day, not of
        ``not_owner_org_id``, not ``not_id`` — with ``columns`` and ``summary`` (search's copy may lag behind market;
        this is the truth). Plain rows, not model instances: a hundred cost about half (measured on both backends)."""
        if not ids:
            return []
        expiry = self._c(expiry_field)
        query = select(
            *(self._c(name) for name in columns.names),
            func.substr(self._c(columns.summary), 1, summary_chars).label("summary"),
        ).where(
            self._c("id").in_(list(ids)),
            self._c("id") != not_id,
            self._c("status") == status,
            self._c("owner_org_id") != not_owner_org_id,
            or_(expiry.is_(None), expiry >= today),
        )
        return list((await self.session.execute(query)).all())
