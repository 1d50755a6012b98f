"""All SQL of proposals."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.market.proposals.models import OPEN_STATUSES, Proposal, proposals_table

__all__ = ["ProposalRepository"]

_p = proposals_table.c


class ProposalRepository:
    """Reads and writes ``market_proposals``."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, proposal_id: uuid.UUID, *, for_update: bool = False) -> Proposal | None:
        """One proposal; ``for_update`` serializes its writers on PostgreSQL (SQLite serializes every writer)."""
        query = sa.select(Proposal).where(_p.id == proposal_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def add(self, row: Proposal) -> None:
        """Insert ``row`` (flush: a concurrent twin fails here on the open-proposal unique index)."""
        self.session.add(row)
        await self.session.flush()

    async def flush(self) -> None:
        await self.session.flush()

    async def open_broker_proposal(
        self, *, broker_org_id: uuid.UUID, demand_id: uuid.UUID, achievement_id: uuid.UUID
    ) -> Proposal | None:
        """The open proposal of this broker organization for this demand and achievement, if any."""
        query = sa.select(Proposal).where(
            _p.origin == "broker",
            _p.status.in_(OPEN_STATUSES),
            _p.broker_org_id == broker_org_id,
            _p.demand_id == demand_id,
            _p.achievement_id == achievement_id,
        )
        return (await self.session.execute(query.execution_options(autoflush=False))).scalar_one_or_none()

    async def open_interest(self, *, buyer_org_id: uuid.UUID, achievement_id: uuid.UUID) -> Proposal | None:
        """The open interest of this organization in this achievement, if any."""
        query = sa.select(Proposal).where(
            _p.origin == "interest",
            _p.status.in_(OPEN_STATUSES),
            _p.buyer_org_id == buyer_org_id,
            _p.achievement_id == achievement_id,
        )
        return (await self.session.execute(query.execution_options(autoflush=False))).scalar_one_or_none()

    async def open_twin_of(self, row: Proposal) -> Proposal | None:
        """The open proposal that holds the unique slot ``row`` wants (same proposer and listings), if any."""
        if row.origin == "interest":
            return await self.open_interest(buyer_org_id=row.buyer_org_id, achievement_id=row.achievement_id)
        if row.broker_org_id is None or row.demand_id is None:
            return None
        return await self.open_broker_proposal(
            broker_org_id=row.broker_org_id, demand_id=row.demand_id, achievement_id=row.achievement_id
        )

    async def page(
        self,
        *,
        org_id: uuid.UUID,
        roles: Sequence[str],
        status: str | None,
        before_id: uuid.UUID | None,
        limit: int,
    ) -> list[Proposal]:
        """Newest first (UUIDv7 ids), keyset-paginated: proposals where ``org_id`` is one of ``roles``."""
        columns = {"seller": _p.seller_org_id, "buyer": _p.buyer_org_id, "broker": _p.broker_org_id}
        conditions: list[sa.ColumnElement[bool]] = [sa.or_(*(columns[role] == org_id for role in roles))]
        if status is not None:
            conditions.append(_p.status == status)
        if before_id is not None:
            conditions.append(_p.id < before_id)
        query = sa.select(Proposal).where(*conditions).order_by(_p.id.desc()).limit(limit)
        return list((await self.session.execute(query)).scalars())

    async def due_for_expiry(self, *, now: dt.datetime, limit: int) -> list[Proposal]:
        """Open proposals past their expiry instant, locked for the expiry transition (others' locks skipped)."""
        query = (
            sa.select(Proposal)
            .where(_p.status.in_(OPEN_STATUSES), _p.expires_at <= now)
            .order_by(_p.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.execute(query)).scalars())

    async def expiring(
        self, *, after: dt.datetime, until: dt.datetime, after_id: uuid.UUID | None, limit: int
    ) -> list[Proposal]:
        """Open proposals expiring in (after, until], in id order after ``after_id`` (keyset batches).

        The (status, expires_at) index finds them."""
        conditions = [_p.status.in_(OPEN_STATUSES), _p.expires_at > after, _p.expires_at <= until]
        if after_id is not None:
            conditions.append(_p.id > after_id)
        query = sa.select(Proposal).where(*conditions).order_by(_p.id).limit(limit)
        return list((await self.session.execute(query)).scalars())

    async def brokered_under(
        self, *, path: str, since: dt.datetime, until: dt.datetime
    ) -> list[tuple[str, str, dt.datetime, dt.datetime | None, dt.datetime]]:
        """(broker org path, status, created, agreed, updated) of broker proposals made by ``path`` or below it that
        were made, agreed or ended in [since, until): what broker performance counts."""
        in_range = [sa.and_(column >= since, column < until) for column in (_p.created_at, _p.agreed_at, _p.updated_at)]
        query = sa.select(_p.broker_org_path, _p.status, _p.created_at, _p.agreed_at, _p.updated_at).where(
            _p.origin == "broker", _p.broker_org_path.like(path + "%"), sa.or_(*in_range)
        )
        return [(r[0], r[1], r[2], r[3], r[4]) for r in (await self.session.execute(query)).all()]
