"""Statistics targets as data: ``stats_targets``, seeded with the action plan's targets for Sichuan 2021–2025.

The seed is a data migration, so it happens exactly once per database: turnover over 6000亿元 of technology
contracts (contract amount, region 510000) and 100 demonstration transfer institutions (示范机构, region 510000),
both 2021-01-01..2025-12-31. Their ids are fixed (``SEED_CONTRACT_AMOUNT_ID``, ``SEED_DEMONSTRATION_ID`` in
services.market.stats.targets.service): the legacy ``target`` field of /market/stats/cumulative and /public reads
the first one.

Revision ID: market_0012
Revises: market_0011
Create Date: 2026-11-30
"""

import datetime as dt
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "market_0012"
down_revision: str | Sequence[str] | None = "market_0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Kept here as literals (a migration must not change when the application code does).
_SOURCE = "四川省“1+4+N”技术转移体系建设行动方案（2021—2025年）（文件名依 issue 16 的表述，文号与条款未经核实）：{what}"
SEED = (
    {
        "id": uuid.UUID("0176bb3e-7000-7000-8000-000000000001"),
        "name": "四川省技术合同累计成交额超过6000亿元（2021—2025年）",
        "metric": "contract_amount",
        "value": 60_000_000_000_000,
        "source": _SOURCE.format(what="到2025年全省技术合同累计成交额超过6000亿元"),
    },
    {
        "id": uuid.UUID("0176bb3e-7000-7000-8000-000000000002"),
        "name": "四川省培育技术转移示范机构100家（2021—2025年）",
        "metric": "demonstration_institutions",
        "value": 100,
        "source": _SOURCE.format(what="培育技术转移示范机构100家"),
    },
)


def upgrade() -> None:
    table = op.create_table(
        "stats_targets",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("period_from", sa.Date(), nullable=False),
        sa.Column("period_to", sa.Date(), nullable=False),
        sa.Column("region", sa.String(6), nullable=True),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("period_from <= period_to", name="ck_stats_targets_period"),
        sa.CheckConstraint("value > 0", name="ck_stats_targets_value"),
    )
    op.create_index("ix_stats_targets_metric", "stats_targets", ["metric", "id"])
    now = dt.datetime.now(dt.UTC)
    op.bulk_insert(
        table,
        [
            {
                **row,
                "period_from": dt.date(2021, 1, 1),
                "period_to": dt.date(2025, 12, 31),
                "region": "510000",
                "organization_id": None,
                "created_at": now,
                "created_by": "system",
                "updated_at": now,
                "updated_by": "system",
                "version": 1,
            }
            for row in SEED
        ],
    )


def downgrade() -> None:
    op.drop_index("ix_stats_targets_metric", table_name="stats_targets")
    op.drop_table("stats_targets")
