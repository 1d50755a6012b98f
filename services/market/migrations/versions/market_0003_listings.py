"""Achievement listings and demand postings.

Revision ID: market_0003
Revises: market_0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "market_0003"
down_revision: str | Sequence[str] | None = "market_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _listing_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("owner_org_id", sa.Uuid(), nullable=False),
        sa.Column("owner_org_path", sa.String(400), nullable=False),
        sa.Column("owner_org_kind", sa.String(32), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("technical_field", sa.String(32), nullable=False),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("contact", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "market_achievements",
        *_listing_columns(),
        sa.Column("summary", sa.String(1000), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("ipc_codes", sa.JSON(), nullable=False),
        sa.Column("patents", sa.JSON(), nullable=False),
        sa.Column("ip_type", sa.String(32), nullable=False),
        sa.Column("trl", sa.Integer(), nullable=True),
        sa.Column("transfer_modes", sa.JSON(), nullable=False),
        sa.Column("price_kind", sa.String(16), nullable=False),
        sa.Column("price_min_fen", sa.BigInteger(), nullable=True),
        sa.Column("price_max_fen", sa.BigInteger(), nullable=True),
        sa.Column("inventors", sa.JSON(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("natural_key", sa.String(255), nullable=False),
        sa.UniqueConstraint("owner_org_id", "natural_key", name="uq_market_achievements_natural_key"),
    )
    op.create_index("ix_market_achievements_status_id", "market_achievements", ["status", "id"])
    op.create_index("ix_market_achievements_owner", "market_achievements", ["owner_org_id", "id"])
    op.create_index("ix_market_achievements_updated", "market_achievements", ["updated_at"])
    op.create_index("ix_market_achievements_expiry", "market_achievements", ["status", "valid_until"])

    op.create_table(
        "market_demands",
        *_listing_columns(),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("desired_trl", sa.Integer(), nullable=True),
        sa.Column("cooperation_modes", sa.JSON(), nullable=False),
        sa.Column("budget_kind", sa.String(16), nullable=False),
        sa.Column("budget_min_fen", sa.BigInteger(), nullable=True),
        sa.Column("budget_max_fen", sa.BigInteger(), nullable=True),
        sa.Column("deadline", sa.Date(), nullable=True),
    )
    op.create_index("ix_market_demands_status_id", "market_demands", ["status", "id"])
    op.create_index("ix_market_demands_owner", "market_demands", ["owner_org_id", "id"])
    op.create_index("ix_market_demands_updated", "market_demands", ["updated_at"])
    op.create_index("ix_market_demands_expiry", "market_demands", ["status", "deadline"])


def downgrade() -> None:
    op.drop_table("market_demands")
    op.drop_table("market_achievements")
