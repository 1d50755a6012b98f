"""Shared market infrastructure: idempotency keys, audit trail, transactional outbox.

Revision ID: market_0002
Revises: market_0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "market_0002"
down_revision: str | Sequence[str] | None = "market_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "market_idempotency_keys",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("scope", sa.String(200), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response_body", sa.JSON(), nullable=True),
        sa.Column("response_headers", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("scope", "key", name="uq_market_idempotency_scope_key"),
    )
    op.create_index("ix_market_idempotency_expires_at", "market_idempotency_keys", ["expires_at"])

    op.create_table(
        "market_audit_events",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("entity_kind", sa.String(32), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_status", sa.String(32), nullable=True),
        sa.Column("to_status", sa.String(32), nullable=True),
        sa.Column("actor_subject", sa.String(200), nullable=False),
        sa.Column("actor_org_id", sa.Uuid(), nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
    )
    op.create_index("ix_market_audit_entity", "market_audit_events", ["entity_kind", "entity_id", "id"])

    op.create_table(
        "market_outbox",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Uuid(), nullable=False, unique=True),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("entity_kind", sa.String(32), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("op", sa.String(16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
    )
    op.create_index("ix_market_outbox_due", "market_outbox", ["delivered_at", "next_attempt_at", "seq"])
    op.create_index("ix_market_outbox_entity", "market_outbox", ["entity_kind", "entity_id", "seq"])


def downgrade() -> None:
    op.drop_table("market_outbox")
    op.drop_table("market_audit_events")
    op.drop_table("market_idempotency_keys")
