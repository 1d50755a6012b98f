"""The world of the authorization matrix: the ten callers and one object for each path parameter.

Built once per backend through the real API (tests/support/actors.py), as a client would:

* the **owner**: a university (四川大学, 510104) with an org_admin and a member; it owns a published achievement
  and a published demand, is the seller of the deal and of the contract;
* an enterprise (the deal's buyer) with a published demand, and a broker of a transfer institution below
  sub-center A, who proposed the deal (agreed by both sides);
* **another org**: a member of an unrelated university;
* two registration offices: A (510100, serves the seller's region: the contract is submitted there) and
  B (500000, Chongqing), each with a registrar;
* statisticians of sub-center A (the broker's institution is in its subtree: in scope) and of sub-center B
  (out of scope);
* the platform admin (the bootstrap admin of the center);
* a webhook endpoint of the owner university, made by its org_admin.

The contract was submitted by the broker from the agreed deal, so the seller, the buyer, the broker's institution,
office A, the statistician of sub-center A and the platform admin may see it (docs/contracts.md, Visibility).
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from services.market.stats.targets.service import SEED_CONTRACT_AMOUNT_ID
from shared.clock import today_in_china
from tests.conftest import Stack
from tests.market.contracts.factories import ensure_office, registrar
from tests.market.helpers import create_listing, demand_body, transition
from tests.market.proposals.world import make_world
from tests.support.actors import Actor, Actors

__all__ = ["ACTORS", "World", "build_world"]

# The columns of the matrix, in this order everywhere (tests/authz/test_matrix.py, docs/security.md).
ACTORS: tuple[str, ...] = (
    "anonymous",
    "other_member",  # member of another organization (a university)
    "owner_member",  # member (role member) of the owner university
    "owner_admin",  # org_admin of the owner university
    "broker",  # broker of the transfer institution that brokered the deal
    "registrar_other",  # registrar of office B (does not serve the seller's region)
    "registrar",  # registrar of office A, where the contract was submitted
    "stat_in",  # statistician of sub-center A (the broker's institution is below it)
    "stat_out",  # statistician of sub-center B
    "platform_admin",
)


@dataclass
class World:
    """Who calls, and what the path parameters name."""

    stack: Stack
    actors: Actors
    callers: dict[str, Actor | None]
    params: dict[str, str]
    admin: Actor | None = None

    async def fresh_member(self) -> dict[str, str]:
        """A new member of the owner university, to be removed by one cell."""
        assert self.admin is not None
        response = await self.stack.client.post(
            f"/auth/organizations/{self.params['organization_id']}/members",
            json={
                "email": f"victim-{secrets.token_hex(4)}@authz.test",
                "name": "victim",
                "password": f"victim-pass-{secrets.token_hex(6)}",
                "roles": ["member"],
            },
            headers=self.admin.headers,
        )
        assert response.status_code == 201, response.text
        return {"user_id": str(response.json()["user_id"])}

    async def fresh_client(self) -> dict[str, str]:
        """A new service client, to be disabled by one cell."""
        assert self.admin is not None
        client_id = f"authz-{secrets.token_hex(4)}"
        response = await self.stack.client.post(
            "/auth/clients", json={"client_id": client_id, "name": "authz victim"}, headers=self.admin.headers
        )
        assert response.status_code == 201, response.text
        return {"client_id": client_id}

    async def fresh_webhook(self) -> dict[str, str]:
        """A new webhook endpoint of the owner university, to be deleted by one cell."""
        return {"webhook_id": await make_webhook(self.stack, self.callers["owner_admin"])}

    async def register_contract(self) -> None:
        """Office A registers the contract (between the matrix's phases)."""
        registrar_a = self.callers["registrar"]
        assert registrar_a is not None
        response = await self.stack.client.post(
            f"/market/contracts/{self.params['contract_id']}/register", json={}, headers=registrar_a.headers
        )
        assert response.status_code == 200, response.text


async def make_webhook(stack: Stack, admin: Actor | None) -> str:
    """A webhook endpoint of ``admin``'s organization (nothing listens there: the matrix runs no delivery round)."""
    assert admin is not None
    response = await stack.client.post(
        "/market/webhooks",
        json={"url": "http://127.0.0.1:9/authz", "event_types": ["proposal.received"]},
        headers=admin.headers,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def build_world(stack: Stack, actors: Actors) -> World:
    """Everything the matrix needs, through the API."""
    client = stack.client
    deal = await make_world(stack, actors)  # university seller, enterprise buyer, sub-center A, broker, admin
    owner_member = deal.seller
    owner_admin = await actors.colleague(owner_member, roles=("org_admin", "member"))
    other_member = await actors.org_member(kind="university", roles=("member",), region_code="500103", name="重庆大学")
    registrar_a = await registrar(actors, region_code="510100")
    registrar_b = await registrar(actors, region_code="500000")
    for office in (registrar_a, registrar_b):
        await ensure_office(stack, office)
    stat_in = await actors.colleague(deal.sub_center, roles=("statistician",))
    sub_center_b = await actors.org_member(
        kind="sub_center", name="国家技术转移西南中心重庆分中心", region_code="500000"
    )
    stat_out = await actors.colleague(sub_center_b, roles=("statistician",))
    admin = deal.admin

    # The owner's own published demand (the demand rows act on it; the deal uses the enterprise's).
    demand = await create_listing(stack, owner_member, "demands", demand_body(title="高温合金叶片检测"))
    assert (await transition(stack, owner_member, "demands", demand["id"], "publish")).status_code == 200

    proposal = await deal.agreed()
    draft = await client.get(f"/market/proposals/{proposal['id']}/contract-draft", headers=deal.broker.headers)
    assert draft.status_code == 200, draft.text
    contract_body: dict[str, Any] = dict(draft.json()["contract"])
    contract_body.update(
        contract_no=f"AUTHZ-{secrets.token_hex(4)}",
        signed_on=(today_in_china() - dt.timedelta(days=3)).isoformat(),
        contract_amount_fen=1_000_000_00,
        technology_amount_fen=900_000_00,
    )
    contract_body["buyer"] = {**contract_body["buyer"], "ownership": "private"}
    submitted = await client.post("/market/contracts", json=contract_body, headers=deal.broker.headers)
    assert submitted.status_code == 201, submitted.text
    contract = submitted.json()
    assert contract["office_id"] == str(registrar_a.org_id), "the contract must reach office A"

    # A notification of the deal's buyer (the enterprise): foreign to every caller of the matrix.
    buyer_inbox = await client.get("/market/notifications", headers=deal.buyer.headers)
    assert buyer_inbox.status_code == 200, buyer_inbox.text
    foreign_notification = buyer_inbox.json()["items"][0]["id"]

    # A saved search of the owner member (personal: 404 to everybody else, colleagues and admins included).
    saved = await client.post(
        "/market/saved-searches", json={"name": "无人机", "q": "无人机"}, headers=owner_member.headers
    )
    assert saved.status_code == 201, saved.text

    # A verified organization that only the suspend row acts on (so no other cell sees it suspended).
    bystander = deal.outsider

    callers: dict[str, Actor | None] = {
        "anonymous": None,
        "other_member": other_member,
        "owner_member": owner_member,
        "owner_admin": owner_admin,
        "broker": deal.broker,
        "registrar_other": registrar_b,
        "registrar": registrar_a,
        "stat_in": stat_in,
        "stat_out": stat_out,
        "platform_admin": admin,
    }
    assert tuple(callers) == ACTORS
    params = {
        "organization_id": str(owner_member.org_id),
        "bystander_org_id": str(bystander.org_id),
        "user_id": owner_member.subject,
        "client_id": "authz-client",
        "achievement_id": deal.achievement["id"],
        "achievement": deal.achievement["id"],
        "demand": demand["id"],
        "deal_demand": deal.demand["id"],
        "proposal_id": proposal["id"],
        "org_id": str(deal.broker.org_id),
        "contract_id": contract["id"],
        "office_id": str(registrar_a.org_id),
        "notification_id": foreign_notification,
        "webhook_id": await make_webhook(stack, owner_admin),
        "search_id": saved.json()["id"],
        "target_id": str(SEED_CONTRACT_AMOUNT_ID),
        "name": "contract_kinds",
        "kind": "achievements",
    }
    created = await client.post(
        "/auth/clients", json={"client_id": "authz-client", "name": "authz client"}, headers=admin.headers
    )
    assert created.status_code == 201, created.text
    return World(stack=stack, actors=actors, callers=callers, params=params, admin=admin)
