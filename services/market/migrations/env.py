"""Alembic environment of the market service (run through shared.migrations)."""

from services.market import models  # noqa: F401  (registers every table on the metadata)
from services.market.base import MarketTable
from shared.migration_env import run_migrations

run_migrations(MarketTable.metadata)
