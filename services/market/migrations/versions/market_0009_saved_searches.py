"""Saved searches and match alerts: ``saved_searches``, the alert jobs the listings enqueue with their search
outbox event, the hits (unique per saved search and listing: a listing alerts a search once), the standing alerts
of open demands (unique per demand and achievement), and ``market_demands.match_alerts`` (default true).

Partial indexes keep the two hot queries small: pending jobs (``done_at IS NULL``) and unsent digest hits
(``notified_at IS NULL``).

Revision ID: market_0009
Revises: market_0008
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "market_0009"
down_revision: str | Sequence[str] | None = "market_0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "saved_searches",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("owner_user_id", sa.String(200), nullable=False),
        sa.Column("owner_org_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("q", sa.String(200), nullable=False),
        sa.Column("technical_field", sa.String(32), nullable=True),
        sa.Column("region", sa.String(6), nullable=True),
        sa.Column("trl_min", sa.Integer(), nullable=True),
        sa.Column("trl_max", sa.Integer(), nullable=True),
        sa.Column("amount_min_fen", sa.BigInteger(), nullable=True),
        sa.Column("amount_max_fen", sa.BigInteger(), nullable=True),
        sa.Column("ip_type", sa.String(32), nullable=True),
        sa.Column("mode", sa.String(32), nullable=True),
        sa.Column("matching", sa.String(8), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("frequency", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("last_alert_at", UTCDateTime(), nullable=True),
        sa.Column("alerts_sent", sa.Integer(), nullable=False),
    )
    op.create_index("ix_saved_searches_owner", "saved_searches", ["owner_user_id", "owner_org_id", "id"])
    op.create_index("ix_saved_searches_kind_active", "saved_searches", ["kind", "active", "id"])
    op.create_table(
        "match_alert_jobs",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("listing_kind", sa.String(16), nullable=False),
        sa.Column("listing_id", sa.Uuid(), nullable=False),
        sa.Column("listing_version", sa.Integer(), nullable=False),
        sa.Column("owner_org_id", sa.Uuid(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
    )
    op.create_index(
        "ix_match_alert_jobs_pending",
        "match_alert_jobs",
        ["next_attempt_at", "id"],
        postgresql_where=sa.text("done_at IS NULL"),
        sqlite_where=sa.text("done_at IS NULL"),
    )
    op.create_index("ix_match_alert_jobs_listing", "match_alert_jobs", ["listing_id", "id"])
    op.create_table(
        "saved_search_hits",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("saved_search_id", sa.Uuid(), sa.ForeignKey("saved_searches.id", ondelete="CASCADE"), nullable=False),
        sa.Column("listing_kind", sa.String(16), nullable=False),
        sa.Column("listing_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("snippet", sa.String(2000), nullable=False),
        sa.Column("matched_terms", sa.JSON(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("notified_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("saved_search_id", "listing_id", name="uq_saved_search_hits_search_listing"),
    )
    op.create_index(
        "ix_saved_search_hits_unsent",
        "saved_search_hits",
        ["saved_search_id", "id"],
        postgresql_where=sa.text("notified_at IS NULL"),
        sqlite_where=sa.text("notified_at IS NULL"),
    )
    op.create_table(
        "demand_match_alerts",
        sa.Column("demand_id", sa.Uuid(), primary_key=True),
        sa.Column("achievement_id", sa.Uuid(), primary_key=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.add_column("market_demands", sa.Column("match_alerts", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("market_demands") as batch:
        batch.drop_column("match_alerts")
    op.drop_table("demand_match_alerts")
    op.drop_index("ix_saved_search_hits_unsent", table_name="saved_search_hits")
    op.drop_table("saved_search_hits")
    op.drop_index("ix_match_alert_jobs_listing", table_name="match_alert_jobs")
    op.drop_index("ix_match_alert_jobs_pending", table_name="match_alert_jobs")
    op.drop_table("match_alert_jobs")
    op.drop_index("ix_saved_searches_kind_active", table_name="saved_searches")
    op.drop_index("ix_saved_searches_owner", table_name="saved_searches")
    op.drop_table("saved_searches")
