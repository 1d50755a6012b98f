"""A contract's history moves into the market audit trail: contract_events → market_audit_events (kind contract).

Revision ID: market_0015
Revises: market_0014
Create Date: 2026-11-30

Each row keeps its id (the UUIDv7 that GET /market/contracts/{id}/events pages by, so cursors handed out before
stay valid) and maps column by column: contract_id → entity_id, detail → details, created_at → occurred_at,
entity_kind 'contract'. contract_events had nothing else. Tables are written out here (not taken from the models)
so this revision never changes. Downgrade recreates contract_events as contracts_0001 made it and moves the rows
back.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "market_0015"
down_revision: str | Sequence[str] | None = "market_0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KIND = "contract"
_SHARED = "id, action, from_status, to_status, actor_subject, actor_org_id, request_id"
# The same columns in the same order, as contract_events and as market_audit_events name them.
OLD = f"{_SHARED}, contract_id, detail, created_at"
NEW = f"{_SHARED}, entity_id, details, occurred_at"


def upgrade() -> None:
    op.execute(
        sa.text(
            f"INSERT INTO market_audit_events (entity_kind, {NEW}) "  # noqa: S608  (own column names)
            f"SELECT :kind, {OLD} FROM contract_events"
        ).bindparams(kind=KIND)
    )
    op.drop_index("ix_contract_events_contract", table_name="contract_events")
    op.drop_table("contract_events")


def downgrade() -> None:
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
    # details may be null in the audit trail, detail may not (a contract row always had an object, '{}').
    back = NEW.replace("details", "COALESCE(details, '{}')")
    op.execute(
        sa.text(
            f"INSERT INTO contract_events ({OLD}) "  # noqa: S608  (own column names)
            f"SELECT {back} FROM market_audit_events WHERE entity_kind = :kind"
        ).bindparams(kind=KIND)
    )
    op.execute(sa.text("DELETE FROM market_audit_events WHERE entity_kind = :kind").bindparams(kind=KIND))
