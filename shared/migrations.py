"""Run a service's Alembic migrations on its own database, from code (startup, CLI, tests).

Every service keeps its own ``migrations/`` folder and its own version table, so the three services can share
one PostgreSQL database in small deployments without stepping on each other.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["alembic_config", "upgrade_to_head"]


def alembic_config(script_location: Path, version_table: str) -> Config:
    """An Alembic config for one service's migration folder."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.attributes["version_table"] = version_table
    return config


async def upgrade_to_head(engine: AsyncEngine, script_location: Path, version_table: str) -> None:
    """Apply every migration (all heads: domains may keep their own branches) on ``engine``."""
    config = alembic_config(script_location, version_table)

    def _run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")

    async with engine.begin() as connection:
        await connection.run_sync(_run)
