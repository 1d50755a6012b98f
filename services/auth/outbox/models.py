"""The auth service's outbox table (columns: shared.outbox.models)."""

from __future__ import annotations

from services.auth.base import AuthTable
from shared.outbox.models import OutboxEventFields, outbox_indexes

__all__ = ["AuthOutboxEvent"]


class AuthOutboxEvent(OutboxEventFields, AuthTable, table=True):
    """One organization change to deliver to market's directory."""

    __tablename__ = "auth_outbox"
    __table_args__ = outbox_indexes("auth_outbox")
