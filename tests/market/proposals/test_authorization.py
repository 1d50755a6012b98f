"""Every party × every action, for broker proposals and for direct interest.

Parties: the seller's organization, the buyer's, the broker (and a member of its institution without the broker
role), the sub-center above the broker (an ancestor is no party), an outsider enterprise and a platform admin.
Each transition case starts from a fresh open proposal; a refused one must leave it unchanged (still v1).
"""

from __future__ import annotations

from typing import Any

from tests.market.proposals.world import World
from tests.support.actors import Actor
from tests.support.problems import assert_problem

# action → party → expected status, on an open broker proposal (contract-draft: on an agreed one).
BROKER_MATRIX: dict[str, dict[str, int]] = {
    "get": {
        "seller": 200,
        "buyer": 200,
        "broker": 200,
        "broker_member": 200,
        "sub_center": 404,
        "outsider": 404,
        "admin": 200,
    },
    "history": {
        "seller": 200,
        "buyer": 200,
        "broker": 200,
        "broker_member": 200,
        "sub_center": 404,
        "outsider": 404,
        "admin": 200,
    },
    "accept": {
        "seller": 200,
        "buyer": 200,
        "broker": 403,
        "broker_member": 403,
        "sub_center": 404,
        "outsider": 404,
        "admin": 403,
    },
    "decline": {
        "seller": 200,
        "buyer": 200,
        "broker": 403,
        "broker_member": 403,
        "sub_center": 404,
        "outsider": 404,
        "admin": 403,
    },
    "withdraw": {
        "seller": 403,
        "buyer": 403,
        "broker": 200,
        "broker_member": 403,
        "sub_center": 404,
        "outsider": 404,
        "admin": 403,
    },
    "contract-draft": {
        "seller": 200,
        "buyer": 403,
        "broker": 200,
        "broker_member": 403,
        "sub_center": 404,
        "outsider": 404,
        "admin": 403,
    },
}
# Direct interest: the enterprise (buyer) asked; an unrelated broker is no party.
INTEREST_MATRIX: dict[str, dict[str, int]] = {
    "get": {"seller": 200, "buyer": 200, "broker": 404, "outsider": 404, "admin": 200},
    "history": {"seller": 200, "buyer": 200, "broker": 404, "outsider": 404, "admin": 200},
    "accept": {"seller": 200, "buyer": 409, "broker": 404, "outsider": 404, "admin": 403},
    "decline": {"seller": 200, "buyer": 403, "broker": 404, "outsider": 404, "admin": 403},
    "withdraw": {"seller": 403, "buyer": 200, "broker": 404, "outsider": 404, "admin": 403},
    "contract-draft": {"seller": 200, "buyer": 403, "broker": 404, "outsider": 404, "admin": 403},
}
STATUS_AFTER = {
    ("broker", "accept", "seller"): "seller_accepted",
    ("broker", "accept", "buyer"): "buyer_accepted",
    ("broker", "decline", "seller"): "declined",
    ("broker", "decline", "buyer"): "declined",
    ("broker", "withdraw", "broker"): "withdrawn",
    ("interest", "accept", "seller"): "agreed",
    ("interest", "decline", "seller"): "declined",
    ("interest", "withdraw", "buyer"): "withdrawn",
}


def _cast(world: World) -> dict[str, Actor]:
    return {**world.parties(), "broker_member": world.broker_member, "sub_center": world.sub_center}


async def _interest(world: World) -> dict[str, Any]:
    response = await world.client.post(
        f"/market/achievements/{world.achievement['id']}/interest",
        json={"note": "我们想了解这项专利", "demand_id": world.demand["id"]},
        headers=world.buyer.headers,
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _agreed_interest(world: World) -> dict[str, Any]:
    interest = await _interest(world)
    return await world.ok(world.seller, interest["id"], "accept")


async def _call(world: World, actor: Actor, proposal_id: str, action: str) -> Any:
    if action in ("get", "history", "contract-draft"):
        suffix = "" if action == "get" else f"/{action}"
        return await world.client.get(f"/market/proposals/{proposal_id}{suffix}", headers=actor.headers)
    return await world.act(actor, proposal_id, action)


async def _check(world: World, origin: str, matrix: dict[str, dict[str, int]]) -> None:
    cast = _cast(world)
    failures: list[str] = []
    for action, expected in matrix.items():
        for party, status in expected.items():
            if action == "contract-draft":
                proposal = await (world.agreed() if origin == "broker" else _agreed_interest(world))
            else:
                proposal = await (world.propose() if origin == "broker" else _interest(world))
            response = await _call(world, cast[party], proposal["id"], action)
            after = await world.client.get(f"/market/proposals/{proposal['id']}", headers=world.admin.headers)
            if response.status_code != status:
                failures.append(f"{origin} {action} by {party}: {response.status_code}, expected {status}")
            elif status >= 400:
                assert_problem(response, status)
                if after.headers["etag"] != f'"v{proposal["version"]}"':
                    failures.append(f"{origin} {action} by {party}: refused but the proposal changed")
            elif (wanted := STATUS_AFTER.get((origin, action, party))) and after.json()["status"] != wanted:
                failures.append(f"{origin} {action} by {party}: left {after.json()['status']}, expected {wanted}")
            if after.json()["status"] in ("proposed", "seller_accepted", "buyer_accepted"):
                # Free the slot for the next case.
                proposer = world.broker if origin == "broker" else world.buyer
                await world.ok(proposer, proposal["id"], "withdraw")
    assert failures == []


async def test_every_party_and_action_on_a_broker_proposal(world: World) -> None:
    await _check(world, "broker", BROKER_MATRIX)


async def test_every_party_and_action_on_direct_interest(world: World) -> None:
    await _check(world, "interest", INTEREST_MATRIX)


async def test_draft_before_agreement_is_409_for_its_drafters_only(world: World) -> None:
    proposal = await world.propose()
    cast = _cast(world)
    expected = {"seller": 409, "broker": 409, "buyer": 403, "broker_member": 403, "admin": 403, "outsider": 404}
    seen = {}
    for party in expected:
        response = await world.client.get(
            f"/market/proposals/{proposal['id']}/contract-draft", headers=cast[party].headers
        )
        seen[party] = assert_problem(response, response.status_code)["status"]
    assert seen == expected
