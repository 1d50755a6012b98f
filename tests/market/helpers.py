"""Assertions and plain factories shared by the market tests."""

from __future__ import annotations

from typing import Any

import httpx
from alembic import command
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from services.market.app import SPEC as MARKET_SPEC
from shared.migrations import alembic_config
from tests.conftest import Stack

__all__ = [
    "achievement_body",
    "create_listing",
    "demand_body",
    "migrate_market",
    "transition",
]


def achievement_body(**overrides: Any) -> dict[str, Any]:
    """A valid achievement create body (a real utility-model patent of the PatentSemantix sample)."""
    body: dict[str, Any] = {
        "title": "一种无人机机载多功能盒",
        "summary": "无人机挂载的多功能数据处理盒",
        "description": "设置有CPU模块、4G/5G通信模块以及扩展接口，可将数据直接发送到云服务器。",
        "keywords": ["无人机", "边缘计算"],
        "technical_field": "aerospace",
        "ipc_codes": ["B64U 20/80", "B64U 101/30"],
        "patents": [{"application_no": "202223220665.2", "publication_no": "CN218751475U"}],
        "ip_type": "utility_model",
        "trl": 6,
        "transfer_modes": ["transfer", "ordinary_license"],
        "price": {"kind": "range", "min_fen": 50_000_00, "max_fen": 120_000_00},
        "inventors": ["刘迪", "刘敏"],
        "contact": {"name": "王老师", "phone": "028-85400000", "email": "tto@example.edu.cn"},
    }
    body.update(overrides)
    return body


def demand_body(**overrides: Any) -> dict[str, Any]:
    """A valid demand create body."""
    body: dict[str, Any] = {
        "title": "锂电池极片缺陷在线检测",
        "description": "需要一套在线视觉检测系统，识别涂布极片的划痕、气泡和漏箔。",
        "technical_field": "advanced_manufacturing",
        "keywords": ["机器视觉", "锂电池"],
        "desired_trl": 6,
        "cooperation_modes": ["commissioned_development", "co_development"],
        "budget": {"kind": "fixed", "min_fen": 80_000_000},
        "contact": {"name": "李工", "phone": "13800000000"},
    }
    body.update(overrides)
    return body


async def create_listing(
    stack: Stack, actor: Any, kind: str = "achievements", body: dict[str, Any] | None = None, **overrides: Any
) -> dict[str, Any]:
    """Create a listing (201 asserted) and return its JSON."""
    if body is None:
        body = achievement_body(**overrides) if kind == "achievements" else demand_body(**overrides)
    response = await stack.client.post(f"/market/{kind}", json=body, headers=actor.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def transition(stack: Stack, actor: Any, kind: str, listing_id: str, action: str) -> httpx.Response:
    """GET the listing for its ETag, then POST the transition with If-Match."""
    current = await stack.client.get(f"/market/{kind}/{listing_id}", headers=actor.headers)
    assert current.status_code == 200, current.text
    return await stack.client.post(
        f"/market/{kind}/{listing_id}/{action}", headers={**actor.headers, "If-Match": current.headers["etag"]}
    )


async def migrate_market(engine: AsyncEngine, action: str, revision: str) -> None:
    """Run alembic ``action`` ("upgrade" | "downgrade") of the market migrations to ``revision`` on ``engine``."""
    config = alembic_config(MARKET_SPEC.migrations, "alembic_version_market")

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)
