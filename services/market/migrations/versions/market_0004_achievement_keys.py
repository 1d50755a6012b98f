"""Achievements: the office's own reference (external_id, unique per owner) and natural keys by the new rule.

The natural key was owner + first patent application number, else owner + case-folded title, so two different
patents of one owner with the same title became one listing. It is now owner + first application number, else
owner + external_id, else owner + a hash of the case-folded title and summary (services.market.listings.keys).
Existing rows have no external_id yet, so their title keys become title-and-summary keys; keys of rows with
patents stay as they are. The new keys cannot collide: titles are case-folded as before and the summary only adds
to the key.

Revision ID: market_0004
Revises: market_0003
Create Date: 2026-11-27
"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

from services.market.listings.keys import natural_key
from shared.text import normalize_text

revision: str = "market_0004"
down_revision: str | Sequence[str] | None = "market_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000

_achievements = sa.table(
    "market_achievements",
    sa.column("id", sa.Uuid()),
    sa.column("owner_org_id", sa.Uuid()),
    sa.column("title", sa.String()),
    sa.column("summary", sa.String()),
    sa.column("patents", sa.JSON()),
    sa.column("natural_key", sa.String()),
)

Row = sa.Row[tuple[object, ...]]


def _new_key(row: Row) -> str:
    patents = row.patents
    return natural_key(
        application_no=patents[0]["application_no"] if patents else None,
        external_id=None,  # the column was just added
        title=row.title,
        summary=row.summary,
    )


def _old_key(row: Row) -> str:
    # The rule of market_0003, frozen here: the listings code no longer has it.
    patents = row.patents
    if patents:
        return f"patent:{patents[0]['application_no']}"
    return "title:" + normalize_text(row.title).casefold()


def _rekey(key_of: Callable[[Row], str]) -> None:
    """Recompute every natural key with ``key_of``, in batches by id; refuse when two rows of one owner would share one."""
    bind = op.get_bind()
    columns = _achievements.c
    changes: list[dict[str, object]] = []
    seen: set[tuple[object, str]] = set()
    after = None
    while True:
        query = sa.select(_achievements).order_by(columns.id).limit(BATCH)
        if after is not None:
            query = query.where(columns.id > after)
        rows = bind.execute(query).all()
        if not rows:
            break
        for row in rows:
            key = key_of(row)
            if (row.owner_org_id, key) in seen:
                raise RuntimeError(
                    f"achievement {row.id} would share its natural key {key!r} with another listing of its owner; "
                    "withdraw or retitle one of them first"
                )
            seen.add((row.owner_org_id, key))
            if key != row.natural_key:
                changes.append({"row_id": row.id, "new_key": key})
        after = rows[-1].id
    # Every key is checked before the first one is written: a refused migration changes nothing.
    update = (
        _achievements.update().where(columns.id == sa.bindparam("row_id")).values(natural_key=sa.bindparam("new_key"))
    )
    for start in range(0, len(changes), BATCH):
        bind.execute(update, changes[start : start + BATCH])


def upgrade() -> None:
    op.add_column("market_achievements", sa.Column("external_id", sa.String(100), nullable=True))
    # NULLs are distinct in a unique index on SQLite and PostgreSQL: only references that are given must differ.
    op.create_index(
        "uq_market_achievements_external_id", "market_achievements", ["owner_org_id", "external_id"], unique=True
    )
    _rekey(_new_key)


def downgrade() -> None:
    given = op.get_bind().execute(sa.text("SELECT count(*) FROM market_achievements WHERE external_id IS NOT NULL"))
    if given.scalar_one():
        raise RuntimeError("achievements carry external_id values the old schema cannot keep: clear them first")
    _rekey(_old_key)
    op.drop_index("uq_market_achievements_external_id", table_name="market_achievements")
    with op.batch_alter_table("market_achievements") as batch:
        batch.drop_column("external_id")
