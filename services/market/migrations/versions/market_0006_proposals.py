"""Brokerage: proposals (撮合) and direct interest; contracts remember the proposal they come from.

The contracts table belongs to the "contracts" branch, so this revision depends on that branch's head
(contracts_0002) without merging the branches: `alembic heads` stays one head per branch (market_0006 and
contracts_0002), and upgrading to market_0006 brings the contracts branch up to contracts_0002 first.

Revision ID: market_0006
Revises: market_0005
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "market_0006"
down_revision: str | Sequence[str] | None = "market_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = "contracts_0002"

_OPEN = "status IN ('proposed', 'seller_accepted', 'buyer_accepted')"


def upgrade() -> None:
    op.create_table(
        "market_proposals",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("broker_org_id", sa.Uuid(), nullable=True),
        sa.Column("broker_org_path", sa.String(400), nullable=True),
        sa.Column("broker_subject", sa.String(200), nullable=True),
        sa.Column("demand_id", sa.Uuid(), nullable=True),
        sa.Column("achievement_id", sa.Uuid(), nullable=False),
        sa.Column("seller_org_id", sa.Uuid(), nullable=False),
        sa.Column("buyer_org_id", sa.Uuid(), nullable=False),
        sa.Column("note", sa.String(2000), nullable=True),
        sa.Column("cooperation_mode", sa.String(32), nullable=True),
        sa.Column("price_kind", sa.String(16), nullable=True),
        sa.Column("price_min_fen", sa.BigInteger(), nullable=True),
        sa.Column("price_max_fen", sa.BigInteger(), nullable=True),
        sa.Column("contact", sa.JSON(), nullable=True),
        sa.Column("decline_reason", sa.String(2000), nullable=True),
        sa.Column("declined_side", sa.String(8), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("agreed_at", UTCDateTime(), nullable=True),
        sa.Column("seller_accepted_at", UTCDateTime(), nullable=True),
        sa.Column("buyer_accepted_at", UTCDateTime(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_market_proposals_seller", "market_proposals", ["seller_org_id", "id"])
    op.create_index("ix_market_proposals_buyer", "market_proposals", ["buyer_org_id", "id"])
    op.create_index("ix_market_proposals_broker", "market_proposals", ["broker_org_id", "id"])
    op.create_index("ix_market_proposals_expiry", "market_proposals", ["status", "expires_at"])
    for name, columns, origin in (
        ("uq_market_proposals_open_broker", ["broker_org_id", "demand_id", "achievement_id"], "broker"),
        ("uq_market_proposals_open_interest", ["buyer_org_id", "achievement_id"], "interest"),
    ):
        predicate = sa.text(f"origin = '{origin}' AND {_OPEN}")
        op.create_index(
            name, "market_proposals", columns, unique=True, postgresql_where=predicate, sqlite_where=predicate
        )

    with op.batch_alter_table("contracts") as batch:
        batch.add_column(sa.Column("proposal_id", sa.Uuid(), nullable=True))
    op.create_index("ix_contracts_proposal", "contracts", ["proposal_id"])


def downgrade() -> None:
    op.drop_index("ix_contracts_proposal", table_name="contracts")
    with op.batch_alter_table("contracts") as batch:
        batch.drop_column("proposal_id")
    op.drop_table("market_proposals")
