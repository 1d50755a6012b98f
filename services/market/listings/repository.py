"""All SQL of achievement listings and demand postings."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from services.market.directory.repository import card_of_joined, joined_card
from services.market.directory.schemas import OrganizationCard
from services.market.listings.models import Achievement, Listing

__all__ = ["ListingFilters", "ListingRepository", "ListingRow", "WithOwner"]

# A listing as read for an answer: the table's own columns as a Core row (attribute access by column name, as the
# ORM object; no identity map, no instance state), for reads that change nothing.
ListingRow = Row[Any]
# Such a row with its owner's directory card, read in the same statement (None: the directory does not know it).
WithOwner = tuple[ListingRow, OrganizationCard | None]


class ListingFilters:
    """Validated list filters."""

    def __init__(
        self,
        *,
        status: str | None = None,
        technical_field: str | None = None,
        region_prefix: str | None = None,
        owner_org_id: uuid.UUID | None = None,
        updated_since: dt.datetime | None = None,
    ) -> None:
        self.status = status
        self.technical_field = technical_field
        self.region_prefix = region_prefix
        self.owner_org_id = owner_org_id
        self.updated_since = updated_since


class ListingRepository:
    """Reads and writes one listing table (``model``)."""

    def __init__(self, session: AsyncSession, model: type[Listing]) -> None:
        self.session = session
        self.model = model
        self.table = model.__table__  # type: ignore[attr-defined]

    def _c(self, name: str) -> Any:
        return self.table.c[name]

    async def get(self, listing_id: uuid.UUID, *, for_update: bool = False) -> Listing | None:
        query = select(self.model).where(self._c("id") == listing_id)
        if for_update:
            # Serializes writers of one listing on PostgreSQL (SQLite serializes every writer already).
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def _with_owners(self, query: Select[Any]) -> list[WithOwner]:
        rows = (await self.session.execute(query)).all()
        return [(row, card_of_joined(row._mapping)) for row in rows]

    async def get_with_owner(self, listing_id: uuid.UUID) -> WithOwner | None:
        """One listing as a Core row with its owner's card, one statement (reads only)."""
        query = joined_card(select(self.table).where(self._c("id") == listing_id), self._c("owner_org_id"))
        found = await self._with_owners(query)
        return found[0] if found else None

    async def get_many(self, listing_ids: list[uuid.UUID]) -> list[Listing]:
        """The listings among ``listing_ids`` (no particular order)."""
        if not listing_ids:
            return []
        query = select(self.model).where(self._c("id").in_(sorted(set(listing_ids))))
        return list((await self.session.execute(query)).scalars())

    async def add(self, row: Listing, *, flush: bool = True) -> None:
        """Add ``row``; ``flush=False`` leaves it pending, for an import that writes its rows a batch per flush."""
        self.session.add(row)
        if flush:
            await self.session.flush()

    async def flush(self) -> None:
        await self.session.flush()

    async def find_achievement(self, *, owner_org_id: uuid.UUID, column: str, value: str) -> Achievement | None:
        """The owner's achievement whose unique ``column`` (natural_key or external_id) is ``value``."""
        columns = Achievement.__table__.c  # type: ignore[attr-defined]
        # No autoflush: an update checks the new values of its row before they are written (which would be an
        # IntegrityError instead of a 409 naming the field).
        query = (
            select(Achievement)
            .where(columns.owner_org_id == owner_org_id, columns[column] == value)
            .execution_options(autoflush=False)
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def achievement_ids_by(self, *, owner_org_id: uuid.UUID, column: str) -> dict[str, uuid.UUID]:
        """``column`` value (natural_key or external_id) → id, for every achievement of the owner that has one."""
        columns = Achievement.__table__.c  # type: ignore[attr-defined]
        query = select(columns[column], columns.id).where(
            columns.owner_org_id == owner_org_id, columns[column].is_not(None)
        )
        return {row[0]: row[1] for row in (await self.session.execute(query)).all()}

    async def page(
        self,
        *,
        filters: ListingFilters,
        public_states: frozenset[str],
        viewer_org_id: uuid.UUID | None,
        sees_everything: bool,
        before_id: uuid.UUID | None,
        limit: int,
    ) -> list[WithOwner]:
        """Newest first (UUIDv7 ids), keyset-paginated, only rows the viewer may see; Core rows, each with its owner's
        card joined in the same statement."""
        conditions: list[ColumnElement[bool]] = []
        if filters.status is not None:
            conditions.append(self._c("status") == filters.status)
        if filters.technical_field is not None:
            conditions.append(self._c("technical_field") == filters.technical_field)
        if filters.region_prefix is not None:
            conditions.append(self._c("region_code").startswith(filters.region_prefix, autoescape=True))
        if filters.owner_org_id is not None:
            conditions.append(self._c("owner_org_id") == filters.owner_org_id)
        if filters.updated_since is not None:
            conditions.append(self._c("updated_at") >= filters.updated_since)
        if before_id is not None:
            conditions.append(self._c("id") < before_id)
        if sees_everything:
            # where(*conditions), not where(and_(*conditions)): a platform admin's unfiltered page has no condition,
            # and an empty and_() is deprecated in SQLAlchemy (a warning, an error under the test suite: a 500).
            query = select(self.table).where(*conditions).order_by(self._c("id").desc()).limit(limit)
            return await self._with_owners(joined_card(query, self._c("owner_org_id")))
        # What the viewer may see, as disjoint parts each read newest first along an index — (status, id) per public
        # state, (owner_org_id, id) for the viewer's own other rows — and merged. One `status IN (…) OR owner = …`
        # condition made both databases collect every public row and sort them for each page (SQLite: a temporary
        # B-tree over all published rows, 24 ms a page at 958 rows and growing with the table).
        wanted = public_states if filters.status is None else public_states & {filters.status}
        parts: list[list[ColumnElement[bool]]] = [[self._c("status") == state] for state in sorted(wanted)]
        if viewer_org_id is not None and (filters.status is None or filters.status not in public_states):
            parts.append([self._c("owner_org_id") == viewer_org_id, self._c("status").not_in(sorted(public_states))])
        if not parts:
            return []
        branches = [
            select(self.table).where(*part, *conditions).order_by(self._c("id").desc()).limit(limit).subquery()
            for part in parts
        ]
        merged = union_all(*(select(branch) for branch in branches)).subquery()
        query = select(merged).order_by(merged.c.id.desc()).limit(limit)
        return await self._with_owners(joined_card(query, merged.c.owner_org_id))

    async def public_of_owner(
        self, *, owner_org_id: uuid.UUID, public_states: frozenset[str], after_id: uuid.UUID | None, limit: int
    ) -> list[Listing]:
        """The owner's listings in a public state after ``after_id``, in id order, locked (the owner changed)."""
        conditions = [self._c("owner_org_id") == owner_org_id, self._c("status").in_(sorted(public_states))]
        if after_id is not None:
            conditions.append(self._c("id") > after_id)
        query = select(self.model).where(*conditions).order_by(self._c("id")).limit(limit).with_for_update()
        return list((await self.session.execute(query)).scalars())

    async def expiring(
        self,
        *,
        expiry_field: str,
        first_day: dt.date,
        last_day: dt.date,
        states: frozenset[str],
        after_id: uuid.UUID | None,
        limit: int,
    ) -> list[Listing]:
        """Listings in ``states`` whose last day is in [first_day, last_day], in id order after ``after_id``."""
        day = self._c(expiry_field)
        conditions = [self._c("status").in_(sorted(states)), day >= first_day, day <= last_day]
        if after_id is not None:
            conditions.append(self._c("id") > after_id)
        query = select(self.model).where(*conditions).order_by(self._c("id")).limit(limit)
        return list((await self.session.execute(query)).scalars())

    async def any_due(self, *, expiry_field: str, today: dt.date, open_states: frozenset[str]) -> bool:
        """Whether some open listing's last day is before ``today`` (one index probe, nothing locked)."""
        query = (
            select(self._c("id"))
            .where(self._c("status").in_(sorted(open_states)), self._c(expiry_field) < today)
            .limit(1)
        )
        return (await self.session.execute(query)).first() is not None

    async def due_for_expiry(
        self, *, expiry_field: str, today: dt.date, open_states: frozenset[str], limit: int
    ) -> list[Listing]:
        """Open listings whose last day is before ``today``, locked for the expiry transition."""
        query = (
            select(self.model)
            .where(self._c("status").in_(sorted(open_states)), self._c(expiry_field) < today)
            .order_by(self._c("id"))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.execute(query)).scalars())
