"""GB/T 2260 region codes: every province of China, and Sichuan and Chongqing down to county level.

Codes are six digits: province ``PP0000``, prefecture ``PPCC00``, county ``PPCCDD``. A code outside Sichuan and
Chongqing is accepted when its province exists (the table does not carry other provinces' counties), so a buyer in
Hangzhou (330100) is valid while 990000 is not.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

__all__ = [
    "CHONGQING",
    "SICHUAN",
    "Region",
    "all_regions",
    "city_code",
    "is_valid_region",
    "province_code",
    "region",
]

SICHUAN = "510000"
CHONGQING = "500000"
DETAILED_PROVINCES = frozenset({SICHUAN, CHONGQING})
_SHAPE = re.compile(r"^\d{6}$")

Level = Literal["province", "prefecture", "county"]


@dataclass(frozen=True, slots=True)
class Region:
    """One row of the table."""

    code: str
    name: str
    level: Level
    parent_code: str | None


@cache
def all_regions() -> dict[str, Region]:
    """Every region of the table by code."""
    path = Path(__file__).parent / "data" / "regions.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        return {
            row["code"]: Region(row["code"], row["name"], row["level"], row["parent_code"] or None)  # type: ignore[arg-type]
            for row in csv.DictReader(handle)
        }


def region(code: str) -> Region | None:
    """The region of ``code``, if the table has it."""
    return all_regions().get(code)


def province_code(code: str) -> str:
    """The province a code belongs to: ``510104`` → ``510000``."""
    return code[:2] + "0000"


def city_code(code: str) -> str:
    """The prefecture a code belongs to: ``510104`` → ``510100``; a province code stays itself."""
    return code if code.endswith("0000") else code[:4] + "00"


def is_valid_region(code: str) -> bool:
    """Whether ``code`` is a GB/T 2260 code the product accepts."""
    if not _SHAPE.match(code):
        return False
    if code in all_regions():
        return True
    province = province_code(code)
    # Outside Sichuan and Chongqing we only know provinces: accept any code under a known province.
    return province in all_regions() and province not in DETAILED_PROVINCES
