"""The outbox's due index becomes a partial index of the undelivered events in seq order.

Revision ID: auth_0006
Revises: auth_0005
Create Date: 2026-11-30

``ix_auth_outbox_due (delivered_at, next_attempt_at, seq)`` made every claim sort all due rows (quadratic drain of a
backlog, docs/benchmarks.md "Outbox relay"); ``ix_auth_outbox_pending (seq) WHERE delivered_at IS NULL`` holds the
backlog in seq order, so the claim reads its first rows without a sort. Written out here (not from
shared.outbox.models) so this revision never changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "auth_0006"
down_revision: str | Sequence[str] | None = "auth_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_auth_outbox_due", table_name="auth_outbox")
    pending = sa.text("delivered_at IS NULL")
    op.create_index("ix_auth_outbox_pending", "auth_outbox", ["seq"], sqlite_where=pending, postgresql_where=pending)


def downgrade() -> None:
    op.drop_index("ix_auth_outbox_pending", table_name="auth_outbox")
    op.create_index("ix_auth_outbox_due", "auth_outbox", ["delivered_at", "next_attempt_at", "seq"])
