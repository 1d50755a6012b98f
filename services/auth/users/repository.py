"""SQL of users and memberships."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.organizations.models import Organization
from services.auth.users.models import Membership, User

__all__ = ["UserRepository"]

_user = User.__table__.c  # type: ignore[attr-defined]
_membership = Membership.__table__.c  # type: ignore[attr-defined]
_org = Organization.__table__.c  # type: ignore[attr-defined]


class UserRepository:
    """Reads and writes ``auth_users`` and ``auth_memberships``."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: uuid.UUID) -> User | None:
        """One user by id."""
        return await self.session.get(User, user_id)

    async def by_email(self, email: str) -> User | None:
        """The user with this (lower-cased) email."""
        result = await self.session.execute(select(User).where(_user.email == email))
        return result.scalar_one_or_none()

    async def add(self, *rows: User | Membership) -> None:
        """Insert users and memberships."""
        self.session.add_all(rows)
        await self.session.flush()

    async def membership(self, *, user_id: uuid.UUID, organization_id: uuid.UUID) -> Membership | None:
        """A user's membership in an organization."""
        result = await self.session.execute(
            select(Membership).where(
                and_(_membership.user_id == user_id, _membership.organization_id == organization_id)
            )
        )
        return result.scalar_one_or_none()

    async def memberships_of(self, user_id: uuid.UUID) -> Sequence[tuple[Membership, Organization]]:
        """A user's memberships with their organizations, oldest first."""
        result = await self.session.execute(
            select(Membership, Organization)
            .join(Organization, _org.id == _membership.organization_id)
            .where(_membership.user_id == user_id)
            .order_by(_membership.created_at, _membership.id)
        )
        return [(m, o) for m, o in result.all()]

    async def members_page(
        self, *, organization_id: uuid.UUID, limit: int, after: uuid.UUID | None
    ) -> Sequence[tuple[Membership, User]]:
        """Up to limit + 1 memberships of an organization in id order after ``after``."""
        conditions = [_membership.organization_id == organization_id]
        if after is not None:
            conditions.append(_membership.id > after)
        result = await self.session.execute(
            select(Membership, User)
            .join(User, _user.id == _membership.user_id)
            .where(and_(*conditions))
            .order_by(_membership.id)
            .limit(limit + 1)
        )
        return [(m, u) for m, u in result.all()]

    async def broker_certificate_ends(self, organization_id: uuid.UUID) -> list[dt.date]:
        """The certificate ends (valid_until) of the organization's broker memberships that have one."""
        result = await self.session.execute(
            select(_membership.roles, _membership.broker_certificate_valid_until).where(
                _membership.organization_id == organization_id,
                _membership.broker_certificate_valid_until.is_not(None),
            )
        )
        return [valid_until for roles, valid_until in result.all() if "broker" in roles.split()]

    async def count_admins(self, organization_id: uuid.UUID) -> int:
        """How many memberships of the organization hold org_admin."""
        result = await self.session.execute(
            select(Membership.roles).where(_membership.organization_id == organization_id)  # type: ignore[call-overload]
        )
        return sum(1 for (roles,) in result.all() if "org_admin" in roles.split())

    async def any_platform_admin(self) -> bool:
        """Whether some membership holds platform_admin."""
        result = await self.session.execute(
            select(func.count()).select_from(Membership).where(_membership.roles.like("%platform_admin%"))
        )
        return int(result.scalar_one()) > 0

    async def delete_membership(self, membership: Membership) -> None:
        """Remove a membership."""
        await self.session.delete(membership)
        await self.session.flush()
