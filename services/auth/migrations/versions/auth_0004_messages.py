"""Outbound messages to an address: signup tells the owner of the email its outcome (new or taken).

Revision ID: auth_0004
Revises: auth_0003
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "auth_0004"
down_revision: str | Sequence[str] | None = "auth_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "auth_messages",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("to", sa.String(254), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_auth_messages_to", "auth_messages", ["to", "created_at"])


def downgrade() -> None:
    op.drop_table("auth_messages")
