"""Statistics fold: deltas carry whether the rollup includes them; rollup cells lose their shards.

A registration, amendment or revocation now appends its delta unfolded; the fold adds unfolded deltas to the cells
later and flags them, in one transaction, and every query sums the cells plus the unfolded deltas in one statement.
Only the fold writes cells, so the shards that spread concurrent request writers over several rows are summed away.

Revision ID: contracts_0002
Revises: contracts_0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "contracts_0002"
down_revision: str | Sequence[str] | None = "contracts_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DIMS = (
    ("seller_region", 6),
    ("buyer_region", 6),
    ("kind", 60),
    ("subkind", 60),
    ("technical_field", 60),
    ("seller_entity_type", 40),
    ("flow", 20),
    ("office_id", 36),
    ("broker_path", 400),
)
_SUMS = ("contracts", "contract_amount_fen", "technology_amount_fen")


def _cells(name: str, *, sharded: bool) -> None:
    key = ["level", "period", *(["shard"] if sharded else []), *(d for d, _ in _DIMS)]
    op.create_table(
        name,
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        *([sa.Column("shard", sa.Integer(), nullable=False)] if sharded else []),
        *[sa.Column(d, sa.String(length), nullable=False) for d, length in _DIMS],
        *[sa.Column(s, sa.BigInteger(), nullable=False) for s in _SUMS],
        sa.PrimaryKeyConstraint(*key, name="pk_contract_stat_cells"),
    )


def _replace_cells(*, sharded: bool) -> None:
    # Rename the old table (and, on PostgreSQL, its primary key, whose index name is global), build the new one,
    # copy the sums over, drop the old.
    op.rename_table("contract_stat_cells", "contract_stat_cells_old")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE contract_stat_cells_old RENAME CONSTRAINT pk_contract_stat_cells TO pk_old_cells")
    _cells("contract_stat_cells", sharded=sharded)
    dims = ", ".join(d for d, _ in _DIMS)
    sums = ", ".join(f"sum({s})" for s in _SUMS)
    into = f"level, period, {'shard, ' if sharded else ''}{dims}, {', '.join(_SUMS)}"
    # Only our own column names are interpolated.
    select = f"SELECT level, period, {'0, ' if sharded else ''}{dims}, {sums} FROM contract_stat_cells_old"  # noqa: S608
    op.execute(f"INSERT INTO contract_stat_cells ({into}) {select} GROUP BY level, period, {dims}")
    op.drop_table("contract_stat_cells_old")


def upgrade() -> None:
    op.add_column("contract_deltas", sa.Column("folded", sa.Boolean(), nullable=False, server_default=sa.true()))
    op.create_index(
        "ix_contract_deltas_unfolded",
        "contract_deltas",
        ["id"],
        postgresql_where=sa.text("NOT folded"),
        sqlite_where=sa.text("folded = 0"),
    )
    _replace_cells(sharded=False)


def downgrade() -> None:
    # The sharded design has no unfolded deltas: their sums would be lost from the statistics.
    pending = op.get_bind().execute(sa.text("SELECT count(*) FROM contract_deltas WHERE NOT folded")).scalar_one()
    if pending:
        raise RuntimeError(f"{pending} deltas are not folded yet: run `techmarket contracts fold-stats` first")
    _replace_cells(sharded=True)
    op.drop_index("ix_contract_deltas_unfolded", table_name="contract_deltas")
    with op.batch_alter_table("contract_deltas") as batch:
        batch.drop_column("folded")
