"""The organization directory feed: organizations gain a version and the suspended status; auth's own outbox.

Revision ID: auth_0003
Revises: auth_0002
Create Date: 2026-11-29

Existing organizations start at version 1 and get no outbox event: market fills its directory once with
``techmarket market directory-rebuild`` (which reads GET /auth/organizations), then follows the feed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "auth_0003"
down_revision: str | Sequence[str] | None = "auth_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("auth_organizations", sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    op.add_column("auth_organizations", sa.Column("suspension_reason", sa.String(1000), nullable=True))

    # The same columns as market_outbox (shared.outbox.models); written out here so this revision never changes.
    op.create_table(
        "auth_outbox",
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
    op.create_index("ix_auth_outbox_due", "auth_outbox", ["delivered_at", "next_attempt_at", "seq"])
    op.create_index("ix_auth_outbox_entity", "auth_outbox", ["entity_kind", "entity_id", "seq"])


def downgrade() -> None:
    op.drop_table("auth_outbox")
    with op.batch_alter_table("auth_organizations") as batch:
        batch.drop_column("suspension_reason")
        batch.drop_column("version")
