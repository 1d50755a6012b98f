"""The outbox's due index becomes a partial index of the undelivered events in seq order.

Revision ID: market_0014
Revises: market_0013
Create Date: 2026-11-30

``ix_market_outbox_due (delivered_at, next_attempt_at, seq)`` made every claim sort all due rows (quadratic drain of a
backlog, docs/benchmarks.md "Outbox relay"); ``ix_market_outbox_pending (seq) WHERE delivered_at IS NULL`` holds the
backlog in seq order, so the claim reads its first rows without a sort. Written out here (not from
shared.outbox.models) so this revision never changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "market_0014"
down_revision: str | Sequence[str] | None = "market_0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_market_outbox_due", table_name="market_outbox")
    pending = sa.text("delivered_at IS NULL")
    op.create_index(
        "ix_market_outbox_pending", "market_outbox", ["seq"], sqlite_where=pending, postgresql_where=pending
    )


def downgrade() -> None:
    op.drop_index("ix_market_outbox_pending", table_name="market_outbox")
    op.create_index("ix_market_outbox_due", "market_outbox", ["delivered_at", "next_attempt_at", "seq"])
