"""Contracts only in one's own name: how each party was verified; the directory found by credit code.

``seller_verification`` / ``buyer_verification`` ∈ self, directory, unverified, registrar. Rows submitted before
this revision were never checked, so they default to ``unverified`` (the registrar checks them). The directory gets
an index on ``credit_code``: every submission and every import batch looks parties up by it.

Revision ID: market_0007
Revises: market_0006
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "market_0007"
down_revision: str | Sequence[str] | None = "market_0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contracts") as batch:
        for side in ("seller", "buyer"):
            batch.add_column(
                sa.Column(f"{side}_verification", sa.String(12), nullable=False, server_default="unverified")
            )
    op.create_index("ix_market_organizations_credit_code", "market_organizations", ["credit_code"])


def downgrade() -> None:
    op.drop_index("ix_market_organizations_credit_code", table_name="market_organizations")
    with op.batch_alter_table("contracts") as batch:
        for side in ("seller", "buyer"):
            batch.drop_column(f"{side}_verification")
