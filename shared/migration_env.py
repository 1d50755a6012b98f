"""The body of every service's Alembic ``env.py``: migrate on the connection handed over in the config."""

from __future__ import annotations

from alembic import context
from sqlalchemy import MetaData

__all__ = ["run_migrations"]


def run_migrations(target_metadata: MetaData) -> None:
    """Run migrations online on ``config.attributes['connection']`` (see shared.migrations)."""
    config = context.config
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through shared.migrations.upgrade_to_head or the techmarket CLI")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=config.attributes["version_table"],
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
