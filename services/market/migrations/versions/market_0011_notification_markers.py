"""Markers of notices due once per occasion: ``notification_markers`` (type, subject_id, occasion) UNIQUE.

The expiring-soon jobs (``proposal.expiring``, ``listing.expiring``) insert a marker if absent before notifying, so
a notice is sent once per subject and expiry value even with several maintenance processes.

Revision ID: market_0011
Revises: market_0008
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "market_0011"
down_revision: str | Sequence[str] | None = "market_0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notification_markers",
        sa.Column("type", sa.String(48), primary_key=True),
        sa.Column("subject_id", sa.Uuid(), primary_key=True),
        sa.Column("occasion", sa.String(40), primary_key=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("notification_markers")
