"""The inbox: ``notifications`` and the per-user read marks of organization-addressed ones.

A partial index over the unread rows of each user keeps the unread count an index scan; organization-addressed
rows are found through (recipient_org_id, recipient_role, id) and anti-joined with ``notification_reads``.

Revision ID: market_0008
Revises: market_0007
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "market_0008"
down_revision: str | Sequence[str] | None = "market_0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("recipient_user_id", sa.String(200), nullable=True),
        sa.Column("recipient_org_id", sa.Uuid(), nullable=True),
        sa.Column("recipient_role", sa.String(32), nullable=True),
        sa.Column("type", sa.String(48), nullable=False),
        sa.Column("subject_type", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("read_at", UTCDateTime(), nullable=True),
    )
    op.create_index(
        "ix_notifications_user_unread",
        "notifications",
        ["recipient_user_id", "id"],
        postgresql_where=sa.text("read_at IS NULL"),
        sqlite_where=sa.text("read_at IS NULL"),
    )
    op.create_index("ix_notifications_user", "notifications", ["recipient_user_id", "id"])
    op.create_index("ix_notifications_org_role", "notifications", ["recipient_org_id", "recipient_role", "id"])
    op.create_table(
        "notification_reads",
        sa.Column(
            "notification_id",
            sa.Uuid(),
            sa.ForeignKey("notifications.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("user_id", sa.String(200), primary_key=True),
        sa.Column("read_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("notification_reads")
    op.drop_index("ix_notifications_org_role", table_name="notifications")
    op.drop_index("ix_notifications_user", table_name="notifications")
    op.drop_index("ix_notifications_user_unread", table_name="notifications")
    op.drop_table("notifications")
