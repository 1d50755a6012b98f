"""Plain factory functions for search test data: whitelisted fields, and ingestion operations."""

from __future__ import annotations

import uuid
from typing import Any

from shared.ids import new_id

__all__ = ["achievement_fields", "delete_op", "demand_fields", "upsert_op"]


def achievement_fields(**overrides: Any) -> dict[str, Any]:
    """Fields of a published achievement, as the market relay sends them."""
    fields: dict[str, Any] = {
        "title": "一种污水处理设备",
        "summary": "本发明公开了一种污水处理设备，安装简单，运行成本低。",
        "description": "该设备包括沉淀池、过滤装置和控制模块，适用于城镇污水处理厂。",
        "keywords": ["环保设备"],
        "technical_field": "environment",
        "ipc_codes": ["C02F9/00"],
        "ip_type": "invention_patent",
        "trl": 6,
        "transfer_modes": ["transfer", "license"],
        "price": {"kind": "range", "min_fen": 10_000_000, "max_fen": 50_000_000},
        "region_code": "510104",
        "owner_org_id": str(new_id()),
        "owner_org_name": "四川大学",
        "status": "published",
        "published_at": "2026-03-01T08:00:00Z",
        "updated_at": "2026-03-01T08:00:00Z",
    }
    fields.update(overrides)
    return fields


def demand_fields(**overrides: Any) -> dict[str, Any]:
    """Fields of a published demand."""
    fields: dict[str, Any] = {
        "title": "寻求锂电池正极材料改性技术",
        "description": "企业需要提高锂离子电池正极材料的循环寿命，希望与高校合作开发。",
        "technical_field": "new_materials",
        "keywords": ["锂电池", "正极材料"],
        "desired_trl": 5,
        "cooperation_modes": ["joint_development"],
        "budget": {"kind": "range", "min_fen": 20_000_000, "max_fen": 80_000_000},
        "deadline": "2026-12-31",
        "region_code": "500112",
        "owner_org_id": str(new_id()),
        "owner_org_name": "重庆某新能源有限公司",
        "status": "published",
        "published_at": "2026-04-01T08:00:00Z",
        "updated_at": "2026-04-01T08:00:00Z",
    }
    fields.update(overrides)
    return fields


def upsert_op(
    kind: str = "achievement", *, id: uuid.UUID | None = None, version: int = 1, **fields: Any
) -> dict[str, Any]:
    """An upsert operation of the ingestion batch."""
    made = achievement_fields(**fields) if kind == "achievement" else demand_fields(**fields)
    return {"op": "upsert", "kind": kind, "id": str(id or new_id()), "version": version, "fields": made}


def delete_op(kind: str, id: uuid.UUID | str, version: int) -> dict[str, Any]:
    """A delete operation of the ingestion batch."""
    return {"op": "delete", "kind": kind, "id": str(id), "version": version}
