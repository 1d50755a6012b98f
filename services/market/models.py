"""Imports every table module of the market service so that its metadata is complete (for Alembic)."""
