"""Technology contracts, registration offices, numbering counters, deltas, history, imports, statistics cells.

Revision ID: contracts_0001
Revises: market_0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "contracts_0001"
down_revision: str | Sequence[str] | None = "market_0001"
branch_labels: str | Sequence[str] | None = ("contracts",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "registration_offices",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("region_prefix", sa.String(6), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_registration_offices_region_prefix", "registration_offices", ["region_prefix"])

    op.create_table(
        "contracts",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("rules_version", sa.String(10), nullable=False),
        sa.Column("kind", sa.String(60), nullable=False),
        sa.Column("subkind", sa.String(60), nullable=False),
        sa.Column("technical_field", sa.String(60), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("contract_no", sa.String(100), nullable=False),
        sa.Column("signed_on", sa.Date(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("contract_amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("claimed_technology_amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("technology_amount_fen", sa.BigInteger(), nullable=True),
        sa.Column("seller_name", sa.String(200), nullable=False),
        sa.Column("seller_credit_code", sa.String(18), nullable=True),
        sa.Column("seller_region_code", sa.String(6), nullable=False),
        sa.Column("seller_entity_type", sa.String(40), nullable=False),
        sa.Column("seller_ownership", sa.String(40), nullable=True),
        sa.Column("seller_org_id", sa.Uuid(), nullable=True),
        sa.Column("buyer_name", sa.String(200), nullable=False),
        sa.Column("buyer_credit_code", sa.String(18), nullable=True),
        sa.Column("buyer_region_code", sa.String(6), nullable=False),
        sa.Column("buyer_entity_type", sa.String(40), nullable=False),
        sa.Column("buyer_ownership", sa.String(40), nullable=True),
        sa.Column("buyer_org_id", sa.Uuid(), nullable=True),
        sa.Column("flow", sa.String(20), nullable=False),
        sa.Column("broker_org_id", sa.Uuid(), nullable=True),
        sa.Column("broker_org_path", sa.String(400), nullable=True),
        sa.Column("achievement_id", sa.Uuid(), nullable=True),
        sa.Column("demand_id", sa.Uuid(), nullable=True),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("office_id", sa.Uuid(), sa.ForeignKey("registration_offices.id"), nullable=False),
        sa.Column("submitter_subject", sa.String(200), nullable=False),
        sa.Column("submitter_org_id", sa.Uuid(), nullable=True),
        sa.Column("submitted_at", UTCDateTime(), nullable=False),
        sa.Column("dedupe_key", sa.String(500), nullable=False, unique=True),
        sa.Column("registration_no", sa.String(16), nullable=True, unique=True),
        sa.Column("registered_on", sa.Date(), nullable=True),
        sa.Column("registered_at", UTCDateTime(), nullable=True),
        sa.Column("registrar_subject", sa.String(200), nullable=True),
        sa.Column("rejection_reason", sa.String(2000), nullable=True),
        sa.Column("import_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_contracts_status", "contracts", ["status"])
    op.create_index("ix_contracts_office_status", "contracts", ["office_id", "status", "id"])
    op.create_index("ix_contracts_seller_org", "contracts", ["seller_org_id"])
    op.create_index("ix_contracts_buyer_org", "contracts", ["buyer_org_id"])
    op.create_index("ix_contracts_broker_org", "contracts", ["broker_org_id"])
    op.create_index("ix_contracts_submitter_org", "contracts", ["submitter_org_id"])

    op.create_table(
        "contract_deltas",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("contract_id", sa.Uuid(), sa.ForeignKey("contracts.id"), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("effective_period", sa.Integer(), nullable=False),
        sa.Column("count_delta", sa.Integer(), nullable=False),
        sa.Column("contract_amount_delta_fen", sa.BigInteger(), nullable=False),
        sa.Column("technology_amount_delta_fen", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(2000), nullable=True),
        sa.Column("actor_subject", sa.String(200), nullable=False),
        sa.Column("import_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_contract_deltas_effective", "contract_deltas", ["effective_on"])
    op.create_index("ix_contract_deltas_contract", "contract_deltas", ["contract_id", "id"])
    op.create_index("ix_contract_deltas_import", "contract_deltas", ["import_id"])

    op.create_table(
        "contract_events",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("contract_id", sa.Uuid(), sa.ForeignKey("contracts.id"), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("from_status", sa.String(20), nullable=True),
        sa.Column("to_status", sa.String(20), nullable=False),
        sa.Column("actor_subject", sa.String(200), nullable=False),
        sa.Column("actor_org_id", sa.Uuid(), nullable=True),
        sa.Column("request_id", sa.String(200), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_contract_events_contract", "contract_events", ["contract_id", "id"])

    op.create_table(
        "contract_registration_counters",
        sa.Column("office_id", sa.Uuid(), primary_key=True),
        sa.Column("year", sa.Integer(), primary_key=True),
        sa.Column("last_serial", sa.Integer(), nullable=False),
    )
    op.create_table(
        "contract_imports",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("actor_subject", sa.String(200), nullable=False),
        sa.Column("office_id", sa.Uuid(), nullable=True),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("imported", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("duplicates", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("failed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "contract_stat_cells",
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("seller_region", sa.String(6), nullable=False),
        sa.Column("buyer_region", sa.String(6), nullable=False),
        sa.Column("kind", sa.String(60), nullable=False),
        sa.Column("subkind", sa.String(60), nullable=False),
        sa.Column("technical_field", sa.String(60), nullable=False),
        sa.Column("seller_entity_type", sa.String(40), nullable=False),
        sa.Column("flow", sa.String(20), nullable=False),
        sa.Column("office_id", sa.String(36), nullable=False),
        sa.Column("broker_path", sa.String(400), nullable=False),
        sa.Column("contracts", sa.BigInteger(), nullable=False),
        sa.Column("contract_amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("technology_amount_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "level",
            "period",
            "shard",
            "seller_region",
            "buyer_region",
            "kind",
            "subkind",
            "technical_field",
            "seller_entity_type",
            "flow",
            "office_id",
            "broker_path",
            name="pk_contract_stat_cells",
        ),
    )


def downgrade() -> None:
    for table in (
        "contract_stat_cells",
        "contract_imports",
        "contract_registration_counters",
        "contract_events",
        "contract_deltas",
        "contracts",
        "registration_offices",
    ):
        op.drop_table(table)
