"""Demonstration institutions (示范机构) and broker certificates' issuer and validity.

Revision ID: auth_0005
Revises: auth_0004
Create Date: 2026-11-30

Organizations gain their designation (level, year, revoked, revoked_at) and the list of their broker
certificates' ends; memberships gain the certificate's issuer and last valid day. Existing broker memberships get
no end (NULL): they keep the broker role's rights until an org admin records one (the compatible choice,
docs/auth.md "Broker certificates"), and are not counted as certified brokers until then.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "auth_0005"
down_revision: str | Sequence[str] | None = "auth_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("auth_organizations") as batch:
        batch.add_column(sa.Column("designation_level", sa.String(16), nullable=True))
        batch.add_column(sa.Column("designation_year", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("designation_revoked", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("designation_revoked_at", UTCDateTime(), nullable=True))
        batch.add_column(
            sa.Column("broker_certificates_valid_until", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
    with op.batch_alter_table("auth_memberships") as batch:
        batch.add_column(sa.Column("broker_certificate_issuer", sa.String(200), nullable=True))
        batch.add_column(sa.Column("broker_certificate_valid_until", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("auth_memberships") as batch:
        batch.drop_column("broker_certificate_valid_until")
        batch.drop_column("broker_certificate_issuer")
    with op.batch_alter_table("auth_organizations") as batch:
        batch.drop_column("broker_certificates_valid_until")
        batch.drop_column("designation_revoked_at")
        batch.drop_column("designation_revoked")
        batch.drop_column("designation_year")
        batch.drop_column("designation_level")
