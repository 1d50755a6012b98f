"""Contacts are revealed only on agreement: every state × every party, for broker proposals and direct interest."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from shared.clock import utcnow
from tests.market.proposals.world import BUYER_CONTACT, SELLER_CONTACT, World, set_expires_at
from tests.support.problems import assert_problem, error_fields

HIDDEN = {"seller": None, "buyer": None}
OPEN = ("proposed", "seller_accepted", "buyer_accepted")


def _expected(state: str, party: str, seller: dict[str, Any], buyer: dict[str, Any]) -> dict[str, Any] | None:
    """The contacts ``party`` sees in ``state`` (None: the proposal is invisible to it, 404)."""
    if party == "outsider":
        return None
    if state != "agreed":
        return HIDDEN
    return {
        "seller": {"seller": None, "buyer": buyer},
        "buyer": {"seller": seller, "buyer": None},
        "broker": {"seller": seller, "buyer": buyer},
        "admin": {"seller": seller, "buyer": buyer},
    }[party]


async def _expire(world: World, proposal: dict[str, Any]) -> dict[str, Any]:
    await set_expires_at(world.stack, proposal["id"], utcnow() - dt.timedelta(seconds=1))
    return {**proposal, "status": "expired"}


async def _check_every_party(
    world: World, proposal: dict[str, Any], state: str, parties: dict[str, Any], seller: Any, buyer: Any
) -> list[str]:
    failures = []
    for party, actor in parties.items():
        expected = _expected(state, party, seller, buyer)
        response = await world.client.get(f"/market/proposals/{proposal['id']}", headers=actor.headers)
        if expected is None:
            assert_problem(response, 404)
            continue
        body = response.json()
        if (body["status"], body["contacts"]) != (state, expected):
            failures.append(f"{state} / {party}: {body['status']} {body['contacts']}")
        # Lists follow the same rule.
        listed = await world.client.get("/market/proposals", params={"status": state}, headers=actor.headers)
        if party != "admin":
            items = {p["id"]: p["contacts"] for p in listed.json()["items"]}
            if items.get(proposal["id"]) != expected:
                failures.append(f"{state} / {party} in the list: {items.get(proposal['id'])}")
    return failures


async def test_every_state_and_party_of_a_broker_proposal(world: World) -> None:
    async def in_state(state: str) -> dict[str, Any]:
        proposal = await world.propose()
        pid = proposal["id"]
        steps: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = {
            "proposed": lambda: _same(proposal),
            "seller_accepted": lambda: world.ok(world.seller, pid, "accept"),
            "buyer_accepted": lambda: world.ok(world.buyer, pid, "accept"),
            "agreed": lambda: _both(world, pid),
            "declined": lambda: world.ok(world.buyer, pid, "decline"),
            "withdrawn": lambda: world.ok(world.broker, pid, "withdraw"),
            "expired": lambda: _expire(world, proposal),
        }
        return await steps[state]()

    failures = []
    for state in (*OPEN, "agreed", "declined", "withdrawn", "expired"):
        proposal = await in_state(state)
        failures += await _check_every_party(world, proposal, state, world.parties(), SELLER_CONTACT, BUYER_CONTACT)
        if state in OPEN:
            await world.ok(world.broker, proposal["id"], "withdraw")
    assert failures == []


async def test_every_state_and_party_of_direct_interest(world: World) -> None:
    given = {"name": "采购部 张经理", "phone": "023-61234567", "email": "buy@example.com"}

    async def interest() -> dict[str, Any]:
        response = await world.client.post(
            f"/market/achievements/{world.achievement['id']}/interest",
            json={"note": "希望获得普通许可", "contact": given, "cooperation_mode": "license"},
            headers=world.buyer.headers,
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    failures = []
    for state in ("buyer_accepted", "agreed", "declined", "withdrawn", "expired"):
        proposal = await interest()
        pid = proposal["id"]
        if state == "agreed":
            proposal = await world.ok(world.seller, pid, "accept")
        elif state == "declined":
            proposal = await world.ok(world.seller, pid, "decline")
        elif state == "withdrawn":
            proposal = await world.ok(world.buyer, pid, "withdraw")
        elif state == "expired":
            proposal = await _expire(world, proposal)
        # An unrelated broker is an outsider here.
        parties = {**world.parties(), "outsider": world.broker}
        parties.pop("broker")
        failures += await _check_every_party(world, proposal, state, parties, SELLER_CONTACT, given)
        if state == "buyer_accepted":
            await world.ok(world.buyer, pid, "withdraw")
    assert failures == []


async def test_contacts_are_the_listings_current_ones(world: World) -> None:
    proposal = await world.agreed()
    current = await world.client.get(f"/market/demands/{world.demand['id']}", headers=world.buyer.headers)
    new_contact = {"name": "赵工", "email": "zhao@example.com"}
    patched = await world.client.patch(
        f"/market/demands/{world.demand['id']}",
        json={"contact": new_contact},
        headers={**world.buyer.headers, "If-Match": current.headers["etag"]},
    )
    assert patched.status_code == 200, patched.text
    seen = await world.client.get(f"/market/proposals/{proposal['id']}", headers=world.seller.headers)
    assert seen.json()["contacts"] == {"seller": None, "buyer": {**new_contact, "phone": None}}


async def test_interest_without_a_demand_needs_a_contact(world: World) -> None:
    url = f"/market/achievements/{world.achievement['id']}/interest"
    response = await world.client.post(url, json={"note": "感兴趣"}, headers=world.buyer.headers)
    assert "contact" in error_fields(assert_problem(response, 422))
    bad = await world.client.post(url, json={"note": "感兴趣", "contact": {"name": "张"}}, headers=world.buyer.headers)
    assert "contact.email" in error_fields(assert_problem(bad, 422))


async def _same(proposal: dict[str, Any]) -> dict[str, Any]:
    return proposal


async def _both(world: World, proposal_id: str) -> dict[str, Any]:
    await world.ok(world.seller, proposal_id, "accept")
    return await world.ok(world.buyer, proposal_id, "accept")
