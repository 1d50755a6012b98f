"""The organization directory: market's read model of auth's organizations.

Revision ID: market_0005
Revises: market_0004
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "market_0005"
down_revision: str | Sequence[str] | None = "market_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "market_organizations",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("credit_code", sa.String(40), nullable=True),
        sa.Column("region_code", sa.String(6), nullable=True),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("path", sa.String(400), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source_updated_at", UTCDateTime(), nullable=True),
        sa.Column("synced_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_market_organizations_path", "market_organizations", ["path"])


def downgrade() -> None:
    op.drop_index("ix_market_organizations_path", table_name="market_organizations")
    op.drop_table("market_organizations")
