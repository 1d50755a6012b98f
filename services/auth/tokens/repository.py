"""SQL of refresh tokens, failed logins and revoked access tokens."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.tokens.models import LoginFailure, RefreshToken, RevokedAccessToken

__all__ = ["TokenRepository"]

_refresh = RefreshToken.__table__.c  # type: ignore[attr-defined]
_failure = LoginFailure.__table__.c  # type: ignore[attr-defined]
_revoked = RevokedAccessToken.__table__.c  # type: ignore[attr-defined]


class TokenRepository:
    """Reads and writes the token tables."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, row: RefreshToken | LoginFailure | RevokedAccessToken) -> None:
        """Insert a row."""
        self.session.add(row)
        await self.session.flush()

    async def refresh_by_hash(self, token_hash: str) -> RefreshToken | None:
        """The refresh token with this SHA-256."""
        result = await self.session.execute(select(RefreshToken).where(_refresh.token_hash == token_hash))
        return result.scalar_one_or_none()

    async def mark_used(self, token_id: uuid.UUID, now: dt.datetime) -> bool:
        """Atomically mark a refresh token used; False when it was already used or revoked (a reuse or a race)."""
        result = await self.session.execute(
            update(RefreshToken)
            .where(and_(_refresh.id == token_id, _refresh.used_at.is_(None), _refresh.revoked_at.is_(None)))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        assert isinstance(result, CursorResult)
        return result.rowcount == 1

    async def revoke_family(self, family_id: uuid.UUID, now: dt.datetime) -> None:
        """Revoke every token of a refresh-token family."""
        await self.session.execute(
            update(RefreshToken)
            .where(and_(_refresh.family_id == family_id, _refresh.revoked_at.is_(None)))
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )

    async def revoke_for_user(self, *, user_id: uuid.UUID, organization_id: uuid.UUID | None, now: dt.datetime) -> None:
        """Revoke a user's live refresh tokens (for one organization, or all)."""
        conditions = [_refresh.user_id == user_id, _refresh.revoked_at.is_(None)]
        if organization_id is not None:
            conditions.append(_refresh.organization_id == organization_id)
        await self.session.execute(
            update(RefreshToken)
            .where(and_(*conditions))
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )

    async def recent_failures(
        self, *, account: str | None, ip: str | None, since: dt.datetime, limit: int
    ) -> Sequence[dt.datetime]:
        """Times of the newest ``limit`` failures of an account (or an IP) since ``since``, newest first."""
        column = _failure.account if account is not None else _failure.ip
        value = account if account is not None else ip
        result = await self.session.execute(
            select(LoginFailure.at)  # type: ignore[call-overload]
            .where(and_(column == value, _failure.at >= since))
            .order_by(_failure.at.desc())
            .limit(limit)
        )
        return [row[0] for row in result.all()]

    async def prune_failures(self, *, account: str, ip: str, before: dt.datetime) -> None:
        """Forget failures older than the window for this account and IP."""
        await self.session.execute(
            delete(LoginFailure).where(and_(or_(_failure.account == account, _failure.ip == ip), _failure.at < before))
        )

    async def clear_account_failures(self, account: str) -> None:
        """Forget an account's failures after a successful login."""
        await self.session.execute(delete(LoginFailure).where(_failure.account == account))

    async def prune_expired(self, *, user_id: uuid.UUID, now: dt.datetime) -> None:
        """Forget a user's expired refresh tokens and every expired revoked-access-token entry (cheap, indexed)."""
        await self.session.execute(
            delete(RefreshToken).where(and_(_refresh.user_id == user_id, _refresh.expires_at < now))
        )
        await self.session.execute(delete(RevokedAccessToken).where(_revoked.expires_at < now))

    async def is_access_token_revoked(self, jti: str) -> bool:
        """Whether an access token was revoked."""
        return await self.session.get(RevokedAccessToken, jti) is not None
