"""SQL of organizations."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.organizations.models import Organization

__all__ = ["OrganizationFilter", "OrganizationRepository"]

_org = Organization.__table__.c  # type: ignore[attr-defined]


class OrganizationFilter:
    """Who may see what: verified organizations, plus (for non-admins) their own subtree."""

    def __init__(self, *, everything: bool, own_path: str | None) -> None:
        self.everything = everything
        self.own_path = own_path

    def clause(self) -> ColumnElement[bool]:
        """The visibility predicate."""
        if self.everything:
            return true()
        visible: ColumnElement[bool] = _org.status == "verified"
        if self.own_path:
            visible = or_(visible, _org.path.like(self.own_path + "%"))
        return visible


class OrganizationRepository:
    """Reads and writes ``auth_organizations``."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, organization_id: uuid.UUID) -> Organization | None:
        """One organization by id."""
        return await self.session.get(Organization, organization_id)

    async def get_for_update(self, organization_id: uuid.UUID) -> Organization | None:
        """One organization, row-locked on PostgreSQL (SQLite transactions are already exclusive)."""
        result = await self.session.execute(select(Organization).where(_org.id == organization_id).with_for_update())
        return result.scalar_one_or_none()

    async def by_credit_code(self, credit_code: str) -> Organization | None:
        """The organization registered with a credit code."""
        result = await self.session.execute(select(Organization).where(_org.credit_code == credit_code))
        return result.scalar_one_or_none()

    async def first_of_kind(self, kind: str) -> Organization | None:
        """The oldest organization of ``kind`` (the center)."""
        result = await self.session.execute(
            select(Organization).where(_org.kind == kind).order_by(_org.created_at, _org.id).limit(1)
        )
        return result.scalar_one_or_none()

    async def add(self, organization: Organization) -> Organization:
        """Insert an organization."""
        self.session.add(organization)
        await self.session.flush()
        return organization

    async def page(
        self,
        *,
        visibility: OrganizationFilter,
        limit: int,
        after: uuid.UUID | None,
        kind: str | None = None,
        parent_id: uuid.UUID | None = None,
        status: str | None = None,
        under_path: str | None = None,
        exclude_id: uuid.UUID | None = None,
    ) -> Sequence[Organization]:
        """Up to ``limit + 1`` organizations in id order after ``after`` (keyset), filtered."""
        conditions: list[ColumnElement[bool]] = [visibility.clause()]
        if kind is not None:
            conditions.append(_org.kind == kind)
        if parent_id is not None:
            conditions.append(_org.parent_id == parent_id)
        if status is not None:
            conditions.append(_org.status == status)
        if under_path is not None:
            conditions.append(_org.path.like(under_path + "%"))
        if exclude_id is not None:
            conditions.append(_org.id != exclude_id)
        if after is not None:
            conditions.append(_org.id > after)
        result = await self.session.execute(
            select(Organization).where(and_(*conditions)).order_by(_org.id).limit(limit + 1)
        )
        return result.scalars().all()

    async def count_under(self, path: str) -> int:
        """How many organizations lie strictly below ``path``."""
        result = await self.session.execute(
            select(func.count()).select_from(Organization).where(_org.path.like(path + "_%"))
        )
        return int(result.scalar_one())
