"""Imports every table module of the auth service so that its metadata is complete (for Alembic)."""
