"""Direct interest: an enterprise asks for an achievement without a broker; the owner accepts or declines."""

from __future__ import annotations

import uuid
from typing import Any

from tests.market.helpers import create_listing, demand_body, transition
from tests.market.proposals.world import World, count_proposals
from tests.support.actors import Actors
from tests.support.problems import assert_problem, error_fields

CONTACT = {"name": "采购部 张经理", "phone": "023-61234567"}


def _url(world: World, achievement_id: str | None = None) -> str:
    return f"/market/achievements/{achievement_id or world.achievement['id']}/interest"


async def test_an_enterprise_asks_and_the_owner_agrees(world: World) -> None:
    body = {
        "note": "希望以普通许可方式实施该专利",
        "contact": CONTACT,
        "cooperation_mode": "license",
        "price": {"kind": "fixed", "min_fen": 30_000_00},
    }
    response = await world.client.post(_url(world), json=body, headers=world.buyer.headers)
    assert response.status_code == 201, response.text
    interest = response.json()
    assert response.headers["location"] == f"/market/proposals/{interest['id']}"
    assert response.headers["etag"] == '"v1"'
    assert interest["origin"] == "interest"
    assert interest["status"] == "buyer_accepted"
    assert interest["buyer_accepted_at"] is not None
    assert (interest["broker_org_id"], interest["broker_subject"], interest["demand_id"]) == (None, None, None)
    assert interest["seller_org_id"] == str(world.seller.org_id)
    assert interest["buyer_org_id"] == str(world.buyer.org_id)
    assert interest["price"] == {"kind": "fixed", "min_fen": 30_000_00, "max_fen": None}
    owner_view = await world.client.get("/market/proposals?role=seller", headers=world.seller.headers)
    assert [p["id"] for p in owner_view.json()["items"]] == [interest["id"]]
    agreed = await world.ok(world.seller, interest["id"], "accept")
    assert agreed["status"] == "agreed"
    assert agreed["contacts"] == {"seller": None, "buyer": {**CONTACT, "email": None}}


async def test_naming_its_own_demand_uses_the_demands_contact(world: World) -> None:
    response = await world.client.post(
        _url(world), json={"note": "对应我们的需求", "demand_id": world.demand["id"]}, headers=world.buyer.headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["demand_id"] == world.demand["id"]
    agreed = await world.ok(world.seller, response.json()["id"], "accept")
    assert agreed["contacts"]["buyer"] == world.demand["contact"]


async def test_the_owner_declines(world: World) -> None:
    interest = (
        await world.client.post(_url(world), json={"note": "x", "contact": CONTACT}, headers=world.buyer.headers)
    ).json()
    declined = await world.ok(world.seller, interest["id"], "decline", {"reason": "已独占许可给他方"})
    assert (declined["status"], declined["declined_side"], declined["decline_reason"]) == (
        "declined",
        "seller",
        "已独占许可给他方",
    )


async def test_one_open_interest_per_enterprise_and_achievement(world: World) -> None:
    body = {"note": "感兴趣", "contact": CONTACT}
    headers = {**world.buyer.headers, "Idempotency-Key": "interest-1"}
    first = await world.client.post(_url(world), json=body, headers=headers)
    replay = await world.client.post(_url(world), json=body, headers=headers)
    assert replay.json()["id"] == first.json()["id"]
    assert replay.headers["idempotent-replayed"] == "true"
    second = await world.client.post(_url(world), json=body, headers=world.buyer.headers)
    assert assert_problem(second, 409)["existing_id"] == first.json()["id"]
    # Another enterprise may ask too; a colleague of the first may not ask twice.
    other = await world.client.post(_url(world), json=body, headers=world.outsider.headers)
    assert other.status_code == 201, other.text
    colleague = await world.actors.colleague(world.buyer, roles=("member",))
    assert_problem(await world.client.post(_url(world), json=body, headers=colleague.headers), 409)
    assert (await count_proposals(world.stack))[0] == 2


async def test_refusals_name_the_reason_and_store_nothing(world: World, actors: Actors) -> None:
    stack = world.stack
    body: dict[str, Any] = {"note": "感兴趣", "contact": CONTACT}
    others_demand = await create_listing(stack, world.outsider, "demands", demand_body(title="别人的需求"))
    await transition(stack, world.outsider, "demands", others_demand["id"], "publish")
    own_draft = await create_listing(stack, world.buyer, "demands", demand_body(title="草稿需求"))
    no_contact = await create_listing(stack, world.buyer, "demands", demand_body(title="无联系人", contact=None))
    await transition(stack, world.buyer, "demands", no_contact["id"], "publish")
    draft_achievement = await create_listing(stack, world.seller, patents=[], title="草稿成果")
    transferred = await create_listing(stack, world.seller, patents=[], title="已转化成果")
    await transition(stack, world.seller, "achievements", transferred["id"], "publish")
    assert (await transition(stack, world.seller, "achievements", transferred["id"], "transfer")).status_code == 200

    field_cases: list[tuple[dict[str, Any], str]] = [
        ({"demand_id": others_demand["id"]}, "demand_id"),
        ({"demand_id": own_draft["id"]}, "demand_id"),
        ({"demand_id": str(uuid.uuid4())}, "demand_id"),
        ({"demand_id": no_contact["id"], "contact": None}, "contact"),
        ({"contact": None}, "contact"),
        ({"note": ""}, "note"),
        ({"cooperation_mode": "barter"}, "cooperation_mode"),
        ({"price": {"kind": "negotiable", "min_fen": 5}}, "price.min_fen"),
        ({"status": "agreed"}, "status"),
    ]
    for change, field in field_cases:
        response = await world.client.post(_url(world), json={**body, **change}, headers=world.buyer.headers)
        assert field in error_fields(assert_problem(response, 422)), change
    missing_note = await world.client.post(_url(world), json={"contact": CONTACT}, headers=world.buyer.headers)
    assert "note" in error_fields(assert_problem(missing_note, 422))

    for achievement_id, status in (
        (str(uuid.uuid4()), 404),
        (draft_achievement["id"], 404),
        (transferred["id"], 409),
    ):
        assert_problem(
            await world.client.post(_url(world, achievement_id), json=body, headers=world.buyer.headers), status
        )
    bad_id = await world.client.post("/market/achievements/nope/interest", json=body, headers=world.buyer.headers)
    assert "achievement_id" in error_fields(assert_problem(bad_id, 422))

    unverified = await actors.org_member(kind="enterprise", roles=("member",), verified=False)
    institute = await actors.org_member(kind="research_institute", roles=("member",))
    for actor, slug in (
        (world.seller, "organization-kind-not-allowed"),
        (institute, "organization-kind-not-allowed"),
        (world.broker, "forbidden"),
        (unverified, "organization-not-verified"),
    ):
        response = await world.client.post(_url(world), json=body, headers=actor.headers)
        assert assert_problem(response, 403)["type"] == f"urn:techmarket:problem:{slug}", actor.org_kind
    assert_problem(await world.client.post(_url(world), json=body), 401)
    assert await count_proposals(stack) == (0, 0)
