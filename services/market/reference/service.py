"""The reference-table registry (see the package docstring)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ReferenceTable", "get_table", "register_table", "table_names"]

_NAME = re.compile(r"^[a-z][a-z0-9_]{1,63}$")

Rows = Sequence[Mapping[str, Any]]


@dataclass
class ReferenceTable:
    """One named table of codes and labels."""

    name: str
    description: str
    version: str | None
    source: Callable[[], Rows]
    _rows: list[dict[str, Any]] | None = field(default=None, repr=False)

    def rows(self) -> list[dict[str, Any]]:
        """The rows, loaded once and checked."""
        if self._rows is None:
            loaded = [dict(row) for row in self.source()]
            for index, row in enumerate(loaded):
                if not isinstance(row.get("code"), str) or not isinstance(row.get("label_zh"), str):
                    raise ValueError(f"reference table {self.name!r} row {index} needs str code and label_zh")
            self._rows = loaded
        return self._rows

    def codes(self) -> frozenset[str]:
        """Every code of the table."""
        return frozenset(str(row["code"]) for row in self.rows())


_registry: dict[str, ReferenceTable] = {}


def register_table(
    name: str,
    rows: Rows | Callable[[], Rows],
    *,
    description: str,
    version: str | None = None,
    replace: bool = False,
) -> ReferenceTable:
    """Add a table to the registry (rows as a sequence, or a callable loaded on first use)."""
    if not _NAME.match(name):
        raise ValueError(f"reference table name {name!r} must match {_NAME.pattern}")
    if name in _registry and not replace:
        raise ValueError(f"reference table {name!r} is already registered")
    if callable(rows):
        source = rows
    else:
        fixed: Rows = tuple(rows)

        def source() -> Rows:
            return fixed

    table = ReferenceTable(name=name, description=description, version=version, source=source)
    _registry[name] = table
    return table


def get_table(name: str) -> ReferenceTable | None:
    """The table registered as ``name``, if any."""
    return _registry.get(name)


def table_names() -> list[str]:
    """Names of every registered table, sorted."""
    return sorted(_registry)
