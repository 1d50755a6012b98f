"""Base revision of the search service; every domain's first migration revises it.

Revision ID: search_0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

revision: str = "search_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
