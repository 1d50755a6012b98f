"""SQL of webhooks: endpoints, deliveries (claimed per backend) and attempts."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.market.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = ["WebhookRepository"]


class WebhookRepository:
    """Reads and writes ``webhook_endpoints``, ``webhook_deliveries`` and ``webhook_attempts``."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _postgres(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    async def add(self, *rows: WebhookEndpoint | WebhookDelivery | WebhookAttempt) -> None:
        self.session.add_all(rows)
        await self.session.flush()

    async def endpoint(self, endpoint_id: uuid.UUID, *, for_update: bool = False) -> WebhookEndpoint | None:
        query = select(WebhookEndpoint).where(col(WebhookEndpoint.id) == endpoint_id)
        if for_update and self._postgres:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def endpoints_page(
        self, org_id: uuid.UUID, *, after: uuid.UUID | None, limit: int
    ) -> Sequence[WebhookEndpoint]:
        query = select(WebhookEndpoint).where(col(WebhookEndpoint.org_id) == org_id)
        if after is not None:
            query = query.where(col(WebhookEndpoint.id) > after)
        query = query.order_by(col(WebhookEndpoint.id)).limit(limit)
        return (await self.session.execute(query)).scalars().all()

    async def count_endpoints(self, org_id: uuid.UUID) -> int:
        query = select(func.count()).select_from(WebhookEndpoint).where(col(WebhookEndpoint.org_id) == org_id)
        return int((await self.session.execute(query)).scalar_one())

    async def enabled_endpoints(self, org_ids: Iterable[uuid.UUID]) -> Sequence[WebhookEndpoint]:
        ids = sorted(set(org_ids))
        if not ids:
            return []
        query = (
            select(WebhookEndpoint)
            .where(col(WebhookEndpoint.org_id).in_(ids), col(WebhookEndpoint.enabled).is_(True))
            .order_by(col(WebhookEndpoint.id))
        )
        return (await self.session.execute(query)).scalars().all()

    async def delete_endpoint(self, row: WebhookEndpoint) -> None:
        # Explicit child deletes: the result must not depend on the backend's foreign-key cascade being on.
        deliveries = select(col(WebhookDelivery.id)).where(col(WebhookDelivery.endpoint_id) == row.id)
        await self.session.execute(delete(WebhookAttempt).where(col(WebhookAttempt.delivery_id).in_(deliveries)))
        await self.session.execute(delete(WebhookDelivery).where(col(WebhookDelivery.endpoint_id) == row.id))
        await self.session.delete(row)
        await self.session.flush()

    async def cancel_pending(self, endpoint_id: uuid.UUID, now: dt.datetime) -> int:
        """Pending deliveries of a disabled endpoint will never be sent: mark them cancelled."""
        result = await self.session.execute(
            update(WebhookDelivery)
            .where(col(WebhookDelivery.endpoint_id) == endpoint_id, col(WebhookDelivery.status) == "pending")
            .values(status="cancelled", next_attempt_at=None, finished_at=now)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def claim_due(
        self, *, now: dt.datetime, lease_until: dt.datetime, limit: int
    ) -> list[tuple[WebhookDelivery, WebhookEndpoint]]:
        """Pending deliveries due at ``now`` of enabled endpoints, oldest due first, leased until ``lease_until``
        (their next attempt moves there, so a concurrent round does not take them while this one sends).

        PostgreSQL: FOR UPDATE SKIP LOCKED lets several workers claim disjoint batches. SQLite serializes writers,
        so the lease written in the same transaction is enough there.
        """
        query = (
            select(WebhookDelivery, WebhookEndpoint)
            .join(WebhookEndpoint, col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id))
            .where(
                col(WebhookDelivery.status) == "pending",
                col(WebhookDelivery.next_attempt_at) <= now,
                col(WebhookEndpoint.enabled).is_(True),
            )
            .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id))
            .limit(limit)
        )
        if self._postgres:
            query = query.with_for_update(skip_locked=True, of=WebhookDelivery)
        rows = [(d, e) for d, e in (await self.session.execute(query)).all()]
        if rows:
            await self.session.execute(
                update(WebhookDelivery)
                .where(col(WebhookDelivery.id).in_([d.id for d, _ in rows]))
                .values(next_attempt_at=lease_until)
                .execution_options(synchronize_session=False)
            )
        return rows

    async def delivery(self, delivery_id: uuid.UUID) -> WebhookDelivery | None:
        query = select(WebhookDelivery).where(col(WebhookDelivery.id) == delivery_id)
        if self._postgres:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def deliveries_page(
        self, endpoint_id: uuid.UUID, *, before: uuid.UUID | None, limit: int
    ) -> Sequence[WebhookDelivery]:
        query = select(WebhookDelivery).where(col(WebhookDelivery.endpoint_id) == endpoint_id)
        if before is not None:
            query = query.where(col(WebhookDelivery.id) < before)
        query = query.order_by(col(WebhookDelivery.id).desc()).limit(limit)
        return (await self.session.execute(query)).scalars().all()

    async def attempts_of(self, delivery_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[WebhookAttempt]]:
        out: dict[uuid.UUID, list[WebhookAttempt]] = {i: [] for i in delivery_ids}
        if not delivery_ids:
            return out
        query = (
            select(WebhookAttempt)
            .where(col(WebhookAttempt.delivery_id).in_(list(delivery_ids)))
            .order_by(col(WebhookAttempt.id))
        )
        for row in (await self.session.execute(query)).scalars():
            out[row.delivery_id].append(row)
        return out
