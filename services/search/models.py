"""Imports every table module of the search service so that its metadata is complete (for Alembic)."""
