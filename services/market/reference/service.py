"""The reference tables by name: the index of ``tables.TABLES``, built once, read-only."""

from __future__ import annotations

from services.market.reference.registry import ReferenceTable, index
from services.market.reference.tables import TABLES

__all__ = ["ReferenceTable", "get_table", "table_names"]

_TABLES = index(TABLES)


def get_table(name: str) -> ReferenceTable | None:
    """The table named ``name``, if any."""
    return _TABLES.get(name)


def table_names() -> list[str]:
    """Names of every table, sorted."""
    return sorted(_TABLES)
