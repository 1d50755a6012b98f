"""The listing code tables, registered in the market reference registry (GET /market/reference/{name})."""

from __future__ import annotations

from typing import Any

from services.market.listings.schemas import (
    ACHIEVEMENT_STATUS_LABELS,
    COOPERATION_MODE_LABELS,
    DEMAND_STATUS_LABELS,
    IP_TYPE_LABELS,
    PRICE_KIND_LABELS,
    TRANSFER_MODE_LABELS,
    TRL_LABELS,
)
from services.market.reference.service import get_table, register_table

__all__ = ["register_listing_tables"]


def _rows(labels: dict[Any, tuple[str, str]]) -> list[dict[str, Any]]:
    return [
        {"code": str(code), "label_zh": zh, "label_en": en, "order": order}
        for order, (code, (zh, en)) in enumerate(labels.items(), start=1)
    ]


TABLES: dict[str, tuple[dict[Any, tuple[str, str]], str]] = {
    "ip_types": (IP_TYPE_LABELS, "Kinds of intellectual property of an achievement (知识产权类型)."),
    "transfer_modes": (TRANSFER_MODE_LABELS, "How an achievement may be transferred (转化方式)."),
    "cooperation_modes": (COOPERATION_MODE_LABELS, "How an enterprise wants to cooperate on a demand (合作方式)."),
    "price_kinds": (PRICE_KIND_LABELS, "How a price or budget is given (价格类型)."),
    "achievement_statuses": (ACHIEVEMENT_STATUS_LABELS, "Lifecycle states of an achievement listing."),
    "demand_statuses": (DEMAND_STATUS_LABELS, "Lifecycle states of a demand posting."),
    "trl_levels": (TRL_LABELS, "Technology readiness levels 1–9 (技术就绪水平, GB/T 22900-2022)."),
}


def register_listing_tables() -> None:
    """Register every listing code table (idempotent)."""
    for name, (labels, description) in TABLES.items():
        if get_table(name) is None:
            register_table(name, _rows(labels), description=description)


register_listing_tables()
