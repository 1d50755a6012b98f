"""Imports every table module of the search service so that its metadata is complete (for Alembic)."""

from services.search.documents.models import IndexedDocument

__all__ = ["IndexedDocument"]
