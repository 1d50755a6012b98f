"""Alembic environment of the search service (run through shared.migrations)."""

from services.search import models  # noqa: F401  (registers every table on the metadata)
from services.search.base import SearchTable
from shared.migration_env import run_migrations

run_migrations(SearchTable.metadata)
