"""The declarative base of the search service's tables: its own registry, so its metadata holds only its tables."""

from __future__ import annotations

from sqlalchemy.orm import registry
from sqlmodel import SQLModel

__all__ = ["SearchTable"]


class SearchTable(SQLModel, registry=registry()):
    """Subclass with table=True for every table the search service owns."""
