"""GB/T 2260 region codes: every province of China, and Sichuan and Chongqing down to county level.

Codes are six digits: province ``PP0000``, prefecture ``PPCC00``, county ``PPCCDD``. A code outside Sichuan and
Chongqing is accepted when its province exists (the table does not carry other provinces' counties), so a buyer in
Hangzhou (330100) is valid while 990000 is not.

This module is the one place that knows the hierarchy: the significant prefix of a code, its prefecture and
province, its level, and the flow of a contract between two regions. Codes that are not six digits (a buyer's
country abroad, "US") have no hierarchy and stay themselves. SQL expressions over region columns (the statistics)
derive from the digit counts below.
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
    "CITY_DIGITS",
    "CODE_DIGITS",
    "PROVINCE_DIGITS",
    "SICHUAN",
    "Level",
    "Region",
    "all_regions",
    "city_code",
    "flow_of",
    "is_region_code",
    "is_valid_region",
    "province_code",
    "region",
    "region_level",
    "region_prefix",
]

SICHUAN = "510000"
CHONGQING = "500000"
DETAILED_PROVINCES = frozenset({SICHUAN, CHONGQING})
_SHAPE = re.compile(r"^\d{6}$")
# Digits of a code that name its province and its prefecture; the rest are zeros at the upper levels.
PROVINCE_DIGITS = 2
CITY_DIGITS = 4
CODE_DIGITS = 6
_PROVINCE_ZEROS = "0" * (CODE_DIGITS - PROVINCE_DIGITS)
_CITY_ZEROS = "0" * (CODE_DIGITS - CITY_DIGITS)

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


def is_region_code(code: str) -> bool:
    """Whether ``code`` has the shape of a GB/T 2260 code (six digits), known or not."""
    return bool(_SHAPE.match(code))


def region_level(code: str) -> Level:
    """The level of a six-digit code: ``510000`` province, ``510100`` prefecture, ``510104`` county."""
    if code.endswith(_PROVINCE_ZEROS):
        return "province"
    if code.endswith(_CITY_ZEROS):
        return "prefecture"
    return "county"


def region_prefix(code: str) -> str:
    """The significant prefix of a code, which every code below it starts with.

    ``510000`` → ``51``, ``510100`` → ``5101``, ``510104`` stays; codes of another shape stay themselves.
    """
    if not is_region_code(code):
        return code
    level = region_level(code)
    if level == "province":
        return code[:PROVINCE_DIGITS]
    if level == "prefecture":
        return code[:CITY_DIGITS]
    return code


def province_code(code: str) -> str:
    """The province a code belongs to: ``510104`` → ``510000``; a code of another shape (abroad) stays itself."""
    if len(code) != CODE_DIGITS:
        return code
    return code[:PROVINCE_DIGITS] + _PROVINCE_ZEROS


def city_code(code: str) -> str:
    """The prefecture a code belongs to: ``510104`` → ``510100``; a province code (or abroad) stays itself."""
    if len(code) != CODE_DIGITS or code.endswith(_PROVINCE_ZEROS):
        return code
    return code[:CITY_DIGITS] + _CITY_ZEROS


def flow_of(seller_region: str, buyer_region: str) -> str:
    """The flow of a contract: local, to_chongqing, to_sichuan, other_province or abroad."""
    if not is_region_code(buyer_region):
        return "abroad"
    seller_province, buyer_province = province_code(seller_region), province_code(buyer_region)
    if seller_province == buyer_province:
        return "local"
    if seller_province == SICHUAN and buyer_province == CHONGQING:
        return "to_chongqing"
    if seller_province == CHONGQING and buyer_province == SICHUAN:
        return "to_sichuan"
    return "other_province"


def is_valid_region(code: str) -> bool:
    """Whether ``code`` is a GB/T 2260 code the product accepts."""
    if not _SHAPE.match(code):
        return False
    if code in all_regions():
        return True
    province = province_code(code)
    # Outside Sichuan and Chongqing we only know provinces: accept any code under a known province.
    return province in all_regions() and province not in DETAILED_PROVINCES
