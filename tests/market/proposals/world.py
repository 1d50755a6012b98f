"""The cast of a brokerage test: a university's published patent, an enterprise's published demand, a broker of a
transfer institution below a sub-center, an outsider enterprise and the platform admin — all in the directory."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import sqlalchemy as sa

from services.market.audit.models import AuditEvent
from services.market.proposals.models import Proposal
from tests.conftest import Stack
from tests.market.helpers import create_listing, demand_body, transition
from tests.support.actors import Actor, Actors

__all__ = ["World", "count_proposals", "make_world", "set_expires_at"]

SELLER_CONTACT = {"name": "王老师", "phone": "028-85400000", "email": "tto@example.edu.cn"}
BUYER_CONTACT = {"name": "李工", "phone": "13800000000", "email": None}


@dataclass
class World:
    """Who acts, and the two published listings a broker matches."""

    stack: Stack
    actors: Actors
    seller: Actor  # member of the university that owns the achievement
    buyer: Actor  # member of the enterprise that owns the demand
    sub_center: Actor
    broker: Actor  # broker of a transfer institution below the sub-center
    broker_member: Actor  # member of the same institution without the broker role
    outsider: Actor  # member of an unrelated enterprise
    admin: Actor  # platform admin (of the center)
    achievement: dict[str, Any]
    demand: dict[str, Any]

    @property
    def client(self) -> httpx.AsyncClient:
        return self.stack.client

    def parties(self) -> dict[str, Actor]:
        """The five parties of the authorization matrix."""
        return {
            "seller": self.seller,
            "buyer": self.buyer,
            "broker": self.broker,
            "outsider": self.outsider,
            "admin": self.admin,
        }

    def proposal_body(self, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "demand_id": self.demand["id"],
            "achievement_id": self.achievement["id"],
            "cooperation_mode": "transfer",
            "note": "贵司的极片检测需求与该专利的视觉模块高度契合。",
            "price": {"kind": "range", "min_fen": 50_000_00, "max_fen": 80_000_00},
        }
        body.update(overrides)
        return body

    async def propose(self, **overrides: Any) -> dict[str, Any]:
        """A new broker proposal (201 asserted)."""
        response = await self.client.post(
            "/market/proposals", json=self.proposal_body(**overrides), headers=self.broker.headers
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def etag(self, proposal_id: str) -> str:
        """The current ETag, read by the platform admin (who may see every proposal)."""
        response = await self.client.get(f"/market/proposals/{proposal_id}", headers=self.admin.headers)
        assert response.status_code == 200, response.text
        return response.headers["etag"]

    async def act(
        self, actor: Actor, proposal_id: str, action: str, body: dict[str, Any] | None = None
    ) -> httpx.Response:
        """POST a transition with the current ETag in If-Match."""
        if action == "decline" and body is None:
            body = {"reason": "预算不足"}
        headers = {**actor.headers, "If-Match": await self.etag(proposal_id)}
        return await self.client.post(f"/market/proposals/{proposal_id}/{action}", json=body, headers=headers)

    async def ok(
        self, actor: Actor, proposal_id: str, action: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A transition that must succeed; returns the proposal."""
        response = await self.act(actor, proposal_id, action, body)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def another_demand(self) -> dict[str, Any]:
        """One more published demand of the buyer (a new pair for the broker to propose)."""
        demand = await create_listing(
            self.stack, self.buyer, "demands", demand_body(title=f"需求 {uuid.uuid4().hex[:6]}")
        )
        assert (await transition(self.stack, self.buyer, "demands", demand["id"], "publish")).status_code == 200
        return demand

    async def agreed(self, **overrides: Any) -> dict[str, Any]:
        """A proposal both sides accepted."""
        proposal = await self.propose(**overrides)
        await self.ok(self.seller, proposal["id"], "accept")
        return await self.ok(self.buyer, proposal["id"], "accept")


async def make_world(stack: Stack, actors: Actors) -> World:
    seller = await actors.org_member(kind="university", roles=("member",), region_code="510104", name="四川大学")
    buyer = await actors.org_member(
        kind="enterprise", roles=("member",), region_code="500103", name="重庆某某科技有限公司"
    )
    sub_center = await actors.org_member(kind="sub_center", name="国家技术转移西南中心四川分中心")
    broker = await actors.org_member(
        kind="transfer_institution",
        roles=("broker",),
        parent=sub_center,
        region_code="510104",
        name="成都某技术转移机构",
    )
    broker_member = await actors.colleague(broker, roles=("member",))
    outsider = await actors.org_member(kind="enterprise", roles=("member",), name="无关企业")
    admin = await actors.platform_admin()
    achievement = await create_listing(stack, seller)
    assert (await transition(stack, seller, "achievements", achievement["id"], "publish")).status_code == 200
    demand = await create_listing(stack, buyer, "demands", demand_body())
    assert (await transition(stack, buyer, "demands", demand["id"], "publish")).status_code == 200
    return World(
        stack=stack,
        actors=actors,
        seller=seller,
        buyer=buyer,
        sub_center=sub_center,
        broker=broker,
        broker_member=broker_member,
        outsider=outsider,
        admin=admin,
        achievement=achievement,
        demand=demand,
    )


async def count_proposals(stack: Stack) -> tuple[int, int]:
    """Stored proposals, and audit rows of proposals (both stay 0 after a refused request)."""
    async with stack.service_app("market").state.sessionmaker() as session:
        proposals = (await session.execute(sa.select(sa.func.count()).select_from(Proposal))).scalar_one()
        audit = (
            await session.execute(
                sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.entity_kind == "proposal")  # type: ignore[arg-type]
            )
        ).scalar_one()
    return int(proposals), int(audit)


async def set_expires_at(stack: Stack, proposal_id: str, when: dt.datetime) -> None:
    """Time passing, simulated in the database (the API sets expires_at from the TTL)."""
    async with stack.service_app("market").state.sessionmaker() as session, session.begin():
        await session.execute(
            sa.update(Proposal).where(Proposal.id == uuid.UUID(proposal_id)).values(expires_at=when)  # type: ignore[arg-type]
        )
