"""Alembic environment of the auth service (run through shared.migrations)."""

from services.auth import models  # noqa: F401  (registers every table on the metadata)
from services.auth.base import AuthTable
from shared.migration_env import run_migrations

run_migrations(AuthTable.metadata)
