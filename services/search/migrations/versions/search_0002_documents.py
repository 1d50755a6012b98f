"""The per-document version table of ingestion (tombstones included).

Revision ID: search_0002
Revises: search_0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "search_0002"
down_revision: str | Sequence[str] | None = "search_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "search_documents",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("searchable", sa.Boolean(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_search_documents_updated_at", "search_documents", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_search_documents_updated_at", table_name="search_documents")
    op.drop_table("search_documents")
