"""From an agreed deal to a registered contract: the draft, the deal's checks, the broker's credit, the follow-ups."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from services.market.contracts.models import contracts_table
from shared.clock import today_in_china
from tests.conftest import Stack
from tests.market.contracts.factories import register
from tests.market.helpers import transition
from tests.market.proposals.world import World
from tests.support.actors import Actor
from tests.support.codes import credit_code
from tests.support.problems import assert_problem, error_fields

CONTRACT_FEN = 1_234_567_89
TECHNOLOGY_FEN = 1_000_000_01


async def draft_of(world: World, actor: Actor, proposal_id: str) -> dict[str, Any]:
    response = await world.client.get(f"/market/proposals/{proposal_id}/contract-draft", headers=actor.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def filled(draft: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """The draft's contract with what the submitter adds (the fields ``missing`` names)."""
    contract = dict(draft["contract"])
    contract.update(
        contract_no=f"SCU-TT-{uuid.uuid4().hex[:8]}",
        signed_on=(today_in_china() - dt.timedelta(days=3)).isoformat(),
        contract_amount_fen=CONTRACT_FEN,
        technology_amount_fen=TECHNOLOGY_FEN,
    )
    contract["buyer"] = {**contract["buyer"], "ownership": "private"}
    contract.update(overrides)
    return contract


async def count_contracts(stack: Stack) -> int:
    async with stack.service_app("market").state.engine.connect() as connection:
        return int((await connection.execute(sa.select(sa.func.count()).select_from(contracts_table))).scalar_one())


async def test_the_draft_is_prefilled_from_the_directory_and_the_listing(world: World) -> None:
    proposal = await world.agreed()
    draft = await draft_of(world, world.broker, proposal["id"])
    assert draft["contract"] == {
        "seller": {
            "name": "四川大学",
            "credit_code": world.seller.credit_code,
            "region_code": "510104",
            "entity_type": "university",
            "ownership": None,
            "org_id": str(world.seller.org_id),
        },
        "buyer": {
            "name": "重庆某某科技有限公司",
            "credit_code": world.buyer.credit_code,
            "region_code": "500103",
            "entity_type": "enterprise",
            "ownership": None,
            "org_id": str(world.buyer.org_id),
        },
        # A granted utility model (CN…U) transferred: 专利权转让.
        "kind": "transfer",
        "subkind": "patent_right_transfer",
        "technical_field": "aerospace",
        "title": "一种无人机机载多功能盒",
        "contract_no": None,
        "signed_on": None,
        "valid_from": None,
        "valid_to": None,
        "contract_amount_fen": None,
        "technology_amount_fen": None,
        "achievement_id": world.achievement["id"],
        "demand_id": world.demand["id"],
        "attachments": [],
        "submitted_as": "broker",
        "office_id": None,
        "proposal_id": proposal["id"],
    }
    assert draft["missing"] == [
        "buyer.ownership",
        "contract_no",
        "signed_on",
        "contract_amount_fen",
        "technology_amount_fen",
    ]
    assert any("ownership" in note for note in draft["notes"])
    as_seller = await draft_of(world, world.seller, proposal["id"])
    assert as_seller["contract"]["submitted_as"] == "seller"


@pytest.mark.parametrize(
    ("mode", "kind", "subkind"),
    [
        ("license", "license", "patent_license"),
        ("co_development", "development", "cooperative_development"),
        ("commissioned_development", "development", "commissioned_development"),
        ("consulting", "consulting", "technical_consulting"),
        ("service", "service", "technical_service"),
        ("equity", "transfer", "patent_right_transfer"),
        ("other", "transfer", "other_transfer"),
    ],
)
async def test_kind_follows_the_cooperation_mode(world: World, mode: str, kind: str, subkind: str) -> None:
    proposal = await world.agreed(cooperation_mode=mode)
    draft = await draft_of(world, world.seller, proposal["id"])
    assert (draft["contract"]["kind"], draft["contract"]["subkind"]) == (kind, subkind)


async def test_broker_submits_the_deal_and_the_statistics_credit_its_institution(world: World, office: Actor) -> None:
    proposal = await world.agreed()
    draft = await draft_of(world, world.broker, proposal["id"])
    response = await world.client.post("/market/contracts", json=filled(draft), headers=world.broker.headers)
    assert response.status_code == 201, response.text
    contract = response.json()
    assert contract["proposal_id"] == proposal["id"]
    assert contract["broker_org_id"] == str(world.broker.org_id)
    assert contract["seller"]["org_id"] == str(world.seller.org_id)
    assert contract["buyer"]["org_id"] == str(world.buyer.org_id)
    assert (contract["achievement_id"], contract["demand_id"]) == (world.achievement["id"], world.demand["id"])
    assert contract["follow_ups"] == []  # not registered yet
    # The deal's parties see the contract.
    for party in (world.seller, world.buyer, world.broker):
        seen = await world.client.get(f"/market/contracts/{contract['id']}", headers=party.headers)
        assert seen.status_code == 200, (party.org_kind, seen.text)

    registered = await register(world.stack, office, contract["id"])
    stats = await world.client.get(
        "/market/stats/contracts",
        params={"group_by": "broker_level2,broker_org", "broker_org": str(world.broker.org_id)},
        headers=world.admin.headers,
    )
    assert stats.status_code == 200, stats.text
    rows = [
        (
            r["key"]["broker_level2"],
            r["key"]["broker_org"],
            r["count"],
            r["contract_amount_fen"],
            r["technology_amount_fen"],
        )
        for r in stats.json()["rows"]
    ]
    assert rows == [
        (str(world.sub_center.org_id), str(world.broker.org_id), 1, CONTRACT_FEN, registered["technology_amount_fen"])
    ]
    assert registered["technology_amount_fen"] == TECHNOLOGY_FEN


async def test_the_seller_submits_and_the_broker_is_still_credited(world: World, office: Actor) -> None:
    proposal = await world.agreed()
    draft = await draft_of(world, world.seller, proposal["id"])
    body = filled(draft)
    # The listing ids default to the deal's.
    del body["achievement_id"], body["demand_id"]
    response = await world.client.post("/market/contracts", json=body, headers=world.seller.headers)
    assert response.status_code == 201, response.text
    contract = response.json()
    assert contract["broker_org_id"] == str(world.broker.org_id)
    assert (contract["achievement_id"], contract["demand_id"]) == (world.achievement["id"], world.demand["id"])
    broker_view = await world.client.get(f"/market/contracts/{contract['id']}", headers=world.broker.headers)
    assert broker_view.status_code == 200


async def test_a_deal_contract_names_the_deals_parties(world: World, office: Actor) -> None:
    proposal = await world.agreed()
    draft = await draft_of(world, world.broker, proposal["id"])
    stranger = credit_code()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"buyer": {**filled(draft)["buyer"], "credit_code": stranger}}, "buyer.credit_code"),
        ({"seller": {**filled(draft)["seller"], "credit_code": world.outsider.credit_code}}, "seller.credit_code"),
        ({"buyer": {**filled(draft)["buyer"], "org_id": str(world.outsider.org_id)}}, "buyer.org_id"),
        ({"achievement_id": str(uuid.uuid4())}, "achievement_id"),
        ({"demand_id": str(uuid.uuid4())}, "demand_id"),
    ]
    for change, field in cases:
        response = await world.client.post(
            "/market/contracts", json=filled(draft, **change), headers=world.broker.headers
        )
        assert field in error_fields(assert_problem(response, 422)), change
    assert await count_contracts(world.stack) == 0


async def test_only_the_seller_side_or_the_broker_of_an_agreed_deal(world: World, office: Actor) -> None:
    agreed = await world.agreed()
    body = filled(await draft_of(world, world.seller, agreed["id"]))
    seller_body = {**body, "submitted_as": "seller"}
    for actor, payload in (
        (world.buyer, seller_body),  # the buyer is not the deal's seller
        (world.outsider, seller_body),
        (world.broker_member, seller_body),
    ):
        response = await world.client.post("/market/contracts", json=payload, headers=actor.headers)
        assert "proposal_id" in error_fields(assert_problem(response, 422)), actor.org_kind
    other_broker = await world.actors.org_member(
        kind="transfer_institution", roles=("broker",), parent=world.sub_center
    )
    response = await world.client.post(
        "/market/contracts", json={**body, "submitted_as": "broker"}, headers=other_broker.headers
    )
    assert "proposal_id" in error_fields(assert_problem(response, 422))
    unknown = await world.client.post(
        "/market/contracts", json={**seller_body, "proposal_id": str(uuid.uuid4())}, headers=world.seller.headers
    )
    assert "proposal_id" in error_fields(assert_problem(unknown, 422))
    # Not agreed (yet): 409.
    open_one = await world.propose(demand_id=(await world.another_demand())["id"])
    pending = await world.client.post(
        "/market/contracts", json={**seller_body, "proposal_id": open_one["id"]}, headers=world.seller.headers
    )
    assert assert_problem(pending, 409)["type"] == "urn:techmarket:problem:proposal-not-agreed"
    # Direct interest has no broker to submit as.
    interest = await world.client.post(
        f"/market/achievements/{world.achievement['id']}/interest",
        json={"note": "想要", "demand_id": world.demand["id"]},
        headers=world.buyer.headers,
    )
    await world.ok(world.seller, interest.json()["id"], "accept")
    as_broker = await world.client.post(
        "/market/contracts",
        json={**body, "submitted_as": "broker", "proposal_id": interest.json()["id"]},
        headers=world.broker.headers,
    )
    assert "proposal_id" in error_fields(assert_problem(as_broker, 422))
    assert await count_contracts(world.stack) == 0


async def test_a_correction_cannot_leave_the_deal(world: World, office: Actor) -> None:
    proposal = await world.agreed()
    draft = await draft_of(world, world.seller, proposal["id"])
    contract = (await world.client.post("/market/contracts", json=filled(draft), headers=world.seller.headers)).json()
    moved = await world.client.patch(
        f"/market/contracts/{contract['id']}",
        json={"buyer": {**filled(draft)["buyer"], "credit_code": credit_code()}},
        headers={**world.seller.headers, "If-Match": '"v1"'},
    )
    assert "buyer.credit_code" in error_fields(assert_problem(moved, 422))
    fixed = await world.client.patch(
        f"/market/contracts/{contract['id']}",
        json={"title": "一种无人机机载多功能盒专利权转让合同"},
        headers={**world.seller.headers, "If-Match": '"v1"'},
    )
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["proposal_id"] == proposal["id"]


async def test_registration_offers_the_listing_follow_ups(world: World, office: Actor) -> None:
    proposal = await world.agreed()
    draft = await draft_of(world, world.seller, proposal["id"])
    contract = (await world.client.post("/market/contracts", json=filled(draft), headers=world.seller.headers)).json()
    registered = await register(world.stack, office, contract["id"])
    achievement_href = f"/market/achievements/{world.achievement['id']}/transfer"
    demand_href = f"/market/demands/{world.demand['id']}/fulfill"
    assert registered["follow_ups"] == [
        {
            "listing": "achievement",
            "id": world.achievement["id"],
            "action": "transfer",
            "method": "POST",
            "href": achievement_href,
        },
        {"listing": "demand", "id": world.demand["id"], "action": "fulfill", "method": "POST", "href": demand_href},
    ]
    # Nothing moved by itself.
    listing = await world.client.get(f"/market/achievements/{world.achievement['id']}")
    assert listing.json()["status"] == "published"
    # Each owner takes its step (from published: no negotiation step needed).
    moved = await world.client.post(
        achievement_href, headers={**world.seller.headers, "If-Match": listing.headers["etag"]}
    )
    assert moved.json()["status"] == "transferred"
    seen = await world.client.get(f"/market/contracts/{contract['id']}", headers=world.buyer.headers)
    assert [f["listing"] for f in seen.json()["follow_ups"]] == ["demand"]
    assert (await transition(world.stack, world.buyer, "demands", world.demand["id"], "fulfill")).json()[
        "status"
    ] == "fulfilled"
    seen = await world.client.get(f"/market/contracts/{contract['id']}", headers=world.broker.headers)
    assert seen.json()["follow_ups"] == []
    # A fulfilled demand is public and final.
    public = await world.client.get(f"/market/demands/{world.demand['id']}")
    assert public.json()["status"] == "fulfilled"
    assert_problem(await transition(world.stack, world.buyer, "demands", world.demand["id"], "withdraw"), 409)
