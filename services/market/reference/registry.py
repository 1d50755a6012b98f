"""What a reference table is, and the index of the declared ones (the declarations are ``tables.TABLES``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from services.market.reference.codes import CodeEnum

__all__ = ["ReferenceTable", "Rows", "code_table", "index"]

_NAME = re.compile(r"^[a-z][a-z0-9_]{1,63}$")

Rows = Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class ReferenceTable:
    """One named table of codes and labels; ``source`` is called on first use only (files, the kernel's lists)."""

    name: str
    description: str
    source: Callable[[], Rows]
    version: str | None = None
    # The loaded rows: a cache, not part of the declaration.
    _loaded: list[list[dict[str, Any]]] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"reference table name {self.name!r} must match {_NAME.pattern}")

    def rows(self) -> list[dict[str, Any]]:
        """The rows, loaded once and checked."""
        if not self._loaded:
            loaded = [dict(row) for row in self.source()]
            for index_, row in enumerate(loaded):
                if not isinstance(row.get("code"), str) or not isinstance(row.get("label_zh"), str):
                    raise ValueError(f"reference table {self.name!r} row {index_} needs str code and label_zh")
            self._loaded.append(loaded)
        return self._loaded[0]

    def codes(self) -> frozenset[str]:
        """Every code of the table."""
        return frozenset(str(row["code"]) for row in self.rows())


def code_table(name: str, codes: type[CodeEnum], *, description: str) -> ReferenceTable:
    """The table of a code list: code, label_zh, label_en and order (1, 2, … in declaration order)."""

    def rows() -> Rows:
        return [
            {"code": member.value, "label_zh": member.label_zh, "label_en": member.label_en, "order": order}
            for order, member in enumerate(codes, start=1)
        ]

    return ReferenceTable(name, description, rows)


def index(tables: Iterable[ReferenceTable]) -> Mapping[str, ReferenceTable]:
    """The tables by name, read-only; a name declared twice is an error."""
    by_name: dict[str, ReferenceTable] = {}
    for table in tables:
        if table.name in by_name:
            raise ValueError(f"reference table {table.name!r} is declared twice")
        by_name[table.name] = table
    return MappingProxyType(by_name)
