"""The declarative base of the market service's tables: its own registry, so its metadata holds only its tables."""

from __future__ import annotations

from sqlalchemy.orm import registry
from sqlmodel import SQLModel

__all__ = ["MarketTable"]


class MarketTable(SQLModel, registry=registry()):
    """Subclass with table=True for every table the market service owns."""
