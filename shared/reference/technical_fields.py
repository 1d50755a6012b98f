"""The 11 technical fields of China's technology-contract statistics, with their codes and Chinese labels."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["TechnicalField", "is_technical_field", "technical_fields"]


@dataclass(frozen=True, slots=True)
class TechnicalField:
    """One technical field."""

    code: str
    label_zh: str
    label_en: str
    order: int


@cache
def technical_fields() -> tuple[TechnicalField, ...]:
    """All fields in their statistical order."""
    path = Path(__file__).parent / "data" / "technical_fields.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        return tuple(
            TechnicalField(row["code"], row["label_zh"], row["label_en"], int(row["order"]))
            for row in csv.DictReader(handle)
        )


@cache
def _codes() -> frozenset[str]:
    return frozenset(f.code for f in technical_fields())


def is_technical_field(code: str) -> bool:
    """Whether ``code`` is one of the 11 field codes."""
    return code in _codes()
