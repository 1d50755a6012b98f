"""Broker performance: proposals, contracts from deals and credited amounts, equal to the statistics to the fen."""

from __future__ import annotations

import datetime as dt
from typing import Any

from shared.clock import today_in_china
from tests.market.proposals.world import World
from tests.support.actors import Actor, Actors
from tests.support.problems import assert_problem

CONTRACT_FEN = 123_456_789
CLAIMED_FEN = 100_000_000
CONFIRMED_FEN = 95_000_001


async def _registrar(world: World) -> Actor:
    registrar = await world.actors.org_member(kind="registration_office", roles=("registrar",), region_code="510000")
    return registrar


async def _contract_from_deal(world: World, proposal_id: str, registrar: Actor, *, contract_no: str) -> dict[str, Any]:
    """The broker posts the deal's draft with amounts, date and number; the registrar registers it."""
    draft = await world.client.get(f"/market/proposals/{proposal_id}/contract-draft", headers=world.broker.headers)
    assert draft.status_code == 200, draft.text
    body = draft.json()["contract"]
    body["buyer"]["ownership"] = "private"
    body.update(
        contract_no=contract_no,
        signed_on=(today_in_china() - dt.timedelta(days=1)).isoformat(),
        contract_amount_fen=CONTRACT_FEN,
        technology_amount_fen=CLAIMED_FEN,
    )
    submitted = await world.client.post("/market/contracts", json=body, headers=world.broker.headers)
    assert submitted.status_code == 201, submitted.text
    registered = await world.client.post(
        f"/market/contracts/{submitted.json()['id']}/register",
        json={"technology_amount_fen": CONFIRMED_FEN},
        headers=registrar.headers,
    )
    assert registered.status_code == 200, registered.text
    result: dict[str, Any] = registered.json()
    return result


async def _busy_broker(world: World) -> None:
    """Four proposals: one agreed and registered as a contract, one declined, one withdrawn, one still open."""
    registrar = await _registrar(world)
    agreed = await world.agreed()
    await _contract_from_deal(world, agreed["id"], registrar, contract_no="SCU-TT-2026-001")
    declined = await world.propose()
    await world.ok(world.seller, declined["id"], "decline", {"reason": "价格不合适"})
    withdrawn = await world.propose()
    await world.ok(world.broker, withdrawn["id"], "withdraw")
    await world.propose()


async def _performance(world: World, actor: Actor, org_id: Any, **params: str) -> dict[str, Any]:
    response = await world.client.get(f"/market/brokers/{org_id}/performance", params=params, headers=actor.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_performance_counts_every_outcome_and_equals_the_statistics(world: World) -> None:
    await _busy_broker(world)
    today = today_in_china()
    performance = await _performance(world, world.broker, world.broker.org_id)
    assert performance["organization"]["id"] == str(world.broker.org_id)
    assert performance["from"] == today.replace(month=1, day=1).isoformat()
    assert performance["to"] == today.isoformat()
    totals = performance["totals"]
    assert totals == {
        "proposals_made": 4,
        "agreed": 1,
        "declined": 1,
        "withdrawn": 1,
        "expired": 0,
        "median_days_to_agreement": 0.0,
        "contracts_submitted": 1,
        "registered_count": 1,
        "contract_amount_fen": CONTRACT_FEN,
        "technology_amount_fen": CONFIRMED_FEN,
    }
    this_month = f"{today.year}-{today.month:02d}"
    assert [m["month"] for m in performance["monthly"]][-1] == this_month
    assert {k: v for k, v in performance["monthly"][-1].items() if k != "month"} == totals
    assert all(m["proposals_made"] == 0 for m in performance["monthly"][:-1])

    # The statistics' broker_org breakdown shows the same amounts, to the fen.
    stats = await world.client.get(
        "/market/stats/contracts",
        params={"group_by": "broker_org", "broker_org": str(world.broker.org_id)},
        headers=world.admin.headers,
    )
    assert stats.status_code == 200, stats.text
    (row,) = stats.json()["rows"]
    assert row["key"]["broker_org"] == str(world.broker.org_id)
    assert (row["count"], row["contract_amount_fen"], row["technology_amount_fen"]) == (
        totals["registered_count"],
        totals["contract_amount_fen"],
        totals["technology_amount_fen"],
    )


async def test_the_sub_center_sees_itself_and_a_table_of_its_institutions(world: World, actors: Actors) -> None:
    await _busy_broker(world)
    quiet = await actors.org_member(
        kind="transfer_institution", roles=("broker",), parent=world.sub_center, name="安静机构"
    )
    institution = await _performance(world, world.broker, world.broker.org_id)
    sub_center = await _performance(world, world.sub_center, world.sub_center.org_id)
    assert sub_center["totals"] == institution["totals"]

    table = await world.client.get(
        f"/market/brokers/{world.sub_center.org_id}/institutions", headers=world.sub_center.headers
    )
    assert table.status_code == 200, table.text
    rows = table.json()["items"]
    assert [r["organization"]["id"] for r in rows] == [str(world.broker.org_id), str(quiet.org_id)]
    assert rows[0]["totals"] == institution["totals"]
    assert rows[1]["totals"]["proposals_made"] == 0
    assert rows[1]["totals"]["median_days_to_agreement"] is None

    ascending = await world.client.get(
        f"/market/brokers/{world.sub_center.org_id}/institutions",
        params={"sort": "proposals_made", "limit": 1},
        headers=world.sub_center.headers,
    )
    first = ascending.json()
    assert [r["organization"]["id"] for r in first["items"]] == [str(quiet.org_id)]
    second = await world.client.get(
        f"/market/brokers/{world.sub_center.org_id}/institutions",
        params={"sort": "proposals_made", "limit": 1, "cursor": first["next_cursor"]},
        headers=world.sub_center.headers,
    )
    assert [r["organization"]["id"] for r in second.json()["items"]] == [str(world.broker.org_id)]
    assert second.json()["next_cursor"] is None


async def test_who_may_see_a_performance(world: World, actors: Actors) -> None:
    center_statistician = await actors.org_member(kind="center", roles=("statistician",))
    other_institution = await actors.org_member(kind="transfer_institution", roles=("broker",), name="别的机构")
    allowed = [world.broker, world.broker_member, world.sub_center, world.admin, center_statistician]
    for actor in allowed:
        await _performance(world, actor, world.broker.org_id)
    for actor in (world.seller, world.buyer, world.outsider, other_institution):
        response = await world.client.get(f"/market/brokers/{world.broker.org_id}/performance", headers=actor.headers)
        assert_problem(response, 403)
    anonymous = await world.client.get(f"/market/brokers/{world.broker.org_id}/performance")
    assert_problem(anonymous, 401)


async def test_bad_requests_name_the_field(world: World) -> None:
    url = f"/market/brokers/{world.broker.org_id}"
    headers = world.admin.headers
    assert_problem(await world.client.get(f"/market/brokers/{world.seller.org_id}/performance", headers=headers), 404)
    assert_problem(
        await world.client.get("/market/brokers/00000000-0000-0000-0000-000000000000/performance", headers=headers),
        404,
    )
    cases = [
        (f"{url}/performance", {"from": "2026-02-01", "to": "2026-01-01"}, "from"),
        (f"{url}/performance", {"from": "2000-01-01", "to": "2026-01-01"}, "from"),
        (f"{url}/performance", {"to": "not-a-date"}, "to"),
        (f"{url}/institutions", {"sort": "price"}, "sort"),
        (f"{url}/institutions", {"cursor": "bm90LWEtY3Vyc29y"}, "cursor"),
        (f"{url}/institutions", {"limit": "0"}, "limit"),
    ]
    for path, params, field in cases:
        response = await world.client.get(path, params=params, headers=headers)
        problem = assert_problem(response, 422)
        assert field in {e["field"].split(".")[-1] for e in problem["errors"]}, (params, problem)


async def test_months_of_a_period_are_all_listed(world: World) -> None:
    performance = await _performance(
        world, world.admin, world.broker.org_id, **{"from": "2025-11-15", "to": "2026-02-03"}
    )
    assert [m["month"] for m in performance["monthly"]] == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert performance["totals"]["proposals_made"] == 0
