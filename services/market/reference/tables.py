"""Reference tables shared by every market domain: technical fields and regions (from shared.reference)."""

from __future__ import annotations

from typing import Any

from services.market.reference.service import get_table, register_table
from shared.reference.regions import all_regions
from shared.reference.technical_fields import technical_fields

__all__ = ["register_shared_tables"]


def _fields() -> list[dict[str, Any]]:
    return [
        {"code": f.code, "label_zh": f.label_zh, "label_en": f.label_en, "order": f.order} for f in technical_fields()
    ]


def _regions() -> list[dict[str, Any]]:
    return [
        {"code": r.code, "label_zh": r.name, "level": r.level, "parent_code": r.parent_code}
        for r in all_regions().values()
    ]


def register_shared_tables() -> None:
    """Register technical_fields and regions (idempotent)."""
    if get_table("technical_fields") is None:
        register_table(
            "technical_fields",
            _fields,
            description="The 11 technical fields of China's technology-contract statistics (技术领域).",
        )
    if get_table("regions") is None:
        register_table(
            "regions",
            _regions,
            description="GB/T 2260 region codes (行政区划代码): every province; Sichuan and Chongqing to county level.",
        )


register_shared_tables()
