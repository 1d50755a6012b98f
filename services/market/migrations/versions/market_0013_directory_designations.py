"""The directory's cards gain the designation (示范机构: level, year, revoked) and the broker certificates' ends.

Revision ID: market_0013
Revises: market_0012
Create Date: 2026-11-30

Existing cards get no designation and no certificates; auth's next event of each organization (or
``techmarket market directory-rebuild``, whose documents are newer only when auth's version moved) fills them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "market_0013"
down_revision: str | Sequence[str] | None = "market_0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("market_organizations") as batch:
        batch.add_column(sa.Column("designation_level", sa.String(16), nullable=True))
        batch.add_column(sa.Column("designation_year", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("designation_revoked", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(
            sa.Column("broker_certificates_valid_until", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("market_organizations") as batch:
        batch.drop_column("broker_certificates_valid_until")
        batch.drop_column("designation_revoked")
        batch.drop_column("designation_year")
        batch.drop_column("designation_level")
