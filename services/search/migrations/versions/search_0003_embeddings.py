"""Semantic search: stored document vectors, the embedding job's claims, and each version's text hash.

Revision ID: search_0003
Revises: search_0002
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "search_0003"
down_revision: str | Sequence[str] | None = "search_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows written before this revision keep a NULL hash: they count as pending, and the embedding job records
    # their hash when it embeds them.
    op.add_column("search_documents", sa.Column("text_hash", sa.String(64), nullable=True))
    op.create_table(
        "search_embeddings",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("text_hash", sa.String(64), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("dimensions", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "search_embedding_claims",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("claimed_until", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("search_embedding_claims")
    op.drop_table("search_embeddings")
    with op.batch_alter_table("search_documents") as batch:
        batch.drop_column("text_hash")
