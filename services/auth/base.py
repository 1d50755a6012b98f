"""The declarative base of the auth service's tables: its own registry, so its metadata holds only its tables."""

from __future__ import annotations

from sqlalchemy.orm import registry
from sqlmodel import SQLModel

__all__ = ["AuthTable"]


class AuthTable(SQLModel, registry=registry()):
    """Subclass with table=True for every table the auth service owns."""
