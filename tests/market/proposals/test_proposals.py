"""Broker proposals (撮合): creation, bad input, two-sided consent, decline, withdraw, expiry, history, lists, ETags."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import update

from services.market.listings.models import Achievement
from services.market.worker import maintenance_jobs, run_maintenance
from shared.clock import today_in_china, utcnow
from tests.market.helpers import create_listing, demand_body, transition
from tests.market.proposals.world import World, count_proposals, set_expires_at
from tests.support.actors import Actors
from tests.support.problems import assert_problem, error_fields


class TestCreate:
    async def test_a_broker_proposes_and_both_owners_see_it(self, world: World) -> None:
        response = await world.client.post(
            "/market/proposals", json=world.proposal_body(), headers=world.broker.headers
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert response.headers["location"] == f"/market/proposals/{body['id']}"
        assert response.headers["etag"] == '"v1"'
        assert body["origin"] == "broker"
        assert body["status"] == "proposed"
        assert body["seller_org_id"] == str(world.seller.org_id)
        assert body["buyer_org_id"] == str(world.buyer.org_id)
        assert body["broker_org_id"] == str(world.broker.org_id)
        assert body["broker_subject"] == world.broker.subject
        assert body["price"] == {"kind": "range", "min_fen": 50_000_00, "max_fen": 80_000_00}
        assert body["cooperation_mode"] == "transfer"
        assert body["contacts"] == {"seller": None, "buyer": None}
        created = dt.datetime.fromisoformat(body["created_at"])
        assert dt.datetime.fromisoformat(body["expires_at"]) - created == dt.timedelta(days=30)
        for owner in (world.seller, world.buyer):
            listed = await world.client.get("/market/proposals", headers=owner.headers)
            assert [p["id"] for p in listed.json()["items"]] == [body["id"]]

    async def test_price_and_note_are_optional(self, world: World) -> None:
        body = world.proposal_body()
        del body["price"], body["note"]
        response = await world.client.post("/market/proposals", json=body, headers=world.broker.headers)
        assert response.status_code == 201, response.text
        assert response.json()["price"] is None
        assert response.json()["note"] is None

    async def test_a_second_open_proposal_is_409_with_the_existing_id(self, world: World) -> None:
        first = await world.propose()
        response = await world.client.post(
            "/market/proposals", json=world.proposal_body(note="再提一次"), headers=world.broker.headers
        )
        body = assert_problem(response, 409)
        assert body["existing_id"] == first["id"]
        assert body["type"] == "urn:techmarket:problem:proposal-exists"
        assert await count_proposals(world.stack) == (1, 1)
        # A colleague broker of the same institution holds the same slot.
        colleague = await world.actors.colleague(world.broker, roles=("broker",))
        again = await world.client.post("/market/proposals", json=world.proposal_body(), headers=colleague.headers)
        assert assert_problem(again, 409)["existing_id"] == first["id"]
        # Once the first is no longer open, the pair may be proposed again.
        await world.ok(world.broker, first["id"], "withdraw")
        second = await world.propose()
        assert second["id"] != first["id"]

    async def test_concurrent_twins_make_one_proposal_and_one_409(self, world: World) -> None:
        # On PostgreSQL both pass the check and the partial unique index decides; SQLite serializes the writers.
        colleague = await world.actors.colleague(world.broker, roles=("broker",))
        responses = await asyncio.gather(
            *(
                world.client.post("/market/proposals", json=world.proposal_body(), headers=actor.headers)
                for actor in (world.broker, colleague, world.broker, colleague)
            )
        )
        created = [r for r in responses if r.status_code == 201]
        assert len(created) == 1, [r.text for r in responses]
        for response in responses:
            if response.status_code != 201:
                assert assert_problem(response, 409)["existing_id"] == created[0].json()["id"]
        assert await count_proposals(world.stack) == (1, 1)

    async def test_another_broker_organization_may_propose_the_same_pair(self, world: World) -> None:
        await world.propose()
        other = await world.actors.org_member(kind="transfer_institution", roles=("broker",), parent=world.sub_center)
        response = await world.client.post("/market/proposals", json=world.proposal_body(), headers=other.headers)
        assert response.status_code == 201, response.text
        assert await count_proposals(world.stack) == (2, 2)

    async def test_idempotency_key_replays_the_first_response(self, world: World) -> None:
        headers = {**world.broker.headers, "Idempotency-Key": "match-7"}
        first = await world.client.post("/market/proposals", json=world.proposal_body(), headers=headers)
        second = await world.client.post("/market/proposals", json=world.proposal_body(), headers=headers)
        assert first.status_code == second.status_code == 201
        assert second.json()["id"] == first.json()["id"]
        assert second.headers["idempotent-replayed"] == "true"
        reused = await world.client.post("/market/proposals", json=world.proposal_body(note="变了"), headers=headers)
        assert "Idempotency-Key" in error_fields(assert_problem(reused, 422))
        assert await count_proposals(world.stack) == (1, 1)


class TestBadInput:
    async def test_refusals_name_the_reason_and_store_nothing(self, world: World, actors: Actors) -> None:
        stack = world.stack
        draft_achievement = await create_listing(stack, world.seller, patents=[], title="草稿成果")
        other_demand = await create_listing(stack, world.buyer, "demands", demand_body(title="另一个需求"))
        await transition(stack, world.buyer, "demands", other_demand["id"], "publish")
        withdrawn_demand = await create_listing(stack, world.buyer, "demands", demand_body(title="撤回的需求"))
        await transition(stack, world.buyer, "demands", withdrawn_demand["id"], "publish")
        await transition(stack, world.buyer, "demands", withdrawn_demand["id"], "withdraw")
        # A university may post demands too: its demand and its achievement are one organization's.
        own_demand = await create_listing(stack, world.seller, "demands", demand_body(title="大学自己的需求"))
        await transition(stack, world.seller, "demands", own_demand["id"], "publish")
        unknown = str(uuid.uuid4())
        cases: list[tuple[dict[str, Any], int, str | None, str | None]] = [
            ({"achievement_id": draft_achievement["id"]}, 422, "achievement_id", "listing_unavailable"),
            ({"achievement_id": unknown}, 422, "achievement_id", "listing_unavailable"),
            ({"demand_id": unknown}, 422, "demand_id", "listing_unavailable"),
            ({"demand_id": withdrawn_demand["id"]}, 422, "demand_id", "listing_unavailable"),
            ({"demand_id": world.achievement["id"]}, 422, "demand_id", "same_listing"),
            ({"demand_id": own_demand["id"]}, 422, "demand_id", "same_organization"),
            ({"demand_id": "not-a-uuid"}, 422, "demand_id", None),
            ({"cooperation_mode": "barter"}, 422, "cooperation_mode", None),
            ({"cooperation_mode": None}, 422, "cooperation_mode", None),
            ({"price": {"kind": "range", "min_fen": 10, "max_fen": 5}}, 422, "price.max_fen", None),
            ({"price": {"kind": "fixed", "min_fen": -1}}, 422, "price.min_fen", None),
            ({"price": {"kind": "fixed", "min_fen": 1.5}}, 422, "price.min_fen", None),
            ({"note": "x" * 2001}, 422, "note", None),
            ({"status": "agreed"}, 422, "status", None),
            ({"broker_org_id": str(uuid.uuid4())}, 422, "broker_org_id", None),
        ]
        for change, status, field, kind in cases:
            response = await world.client.post(
                "/market/proposals", json=world.proposal_body(**change), headers=world.broker.headers
            )
            body = assert_problem(response, status)
            assert field in error_fields(body), (change, body)
            if kind is not None:
                assert kind in [e["type"] for e in body["errors"]], (change, body)
        del_mode = world.proposal_body()
        del del_mode["demand_id"]
        missing = await world.client.post("/market/proposals", json=del_mode, headers=world.broker.headers)
        assert "demand_id" in error_fields(assert_problem(missing, 422))

        # Who may not propose at all: 403 with the reason.
        unverified = await actors.org_member(kind="transfer_institution", roles=("broker",), verified=False)
        for actor, slug in (
            (world.broker_member, "broker-role-required"),
            (world.seller, "broker-role-required"),
            (world.admin, "broker-role-required"),
            (unverified, "organization-not-verified"),
        ):
            response = await world.client.post("/market/proposals", json=world.proposal_body(), headers=actor.headers)
            assert assert_problem(response, 403)["type"] == f"urn:techmarket:problem:{slug}", actor.org_kind
        assert_problem(await world.client.post("/market/proposals", json=world.proposal_body()), 401)
        assert await count_proposals(stack) == (0, 0)

    async def test_a_suspended_owner_takes_no_deals_until_reinstated(self, world: World, actors: Actors) -> None:
        admin = await actors.platform_admin()
        url = f"/auth/organizations/{world.seller.org_id}"
        suspended = await world.client.post(f"{url}/suspend", json={"reason": "资质复核"}, headers=admin.headers)
        assert suspended.status_code == 200, suspended.text
        await actors.sync_directory()
        refused = await world.client.post("/market/proposals", json=world.proposal_body(), headers=world.broker.headers)
        assert "owner_suspended" in [e["type"] for e in assert_problem(refused, 422)["errors"]]
        interest = await world.client.post(
            f"/market/achievements/{world.achievement['id']}/interest",
            json={"note": "想了解授权条件", "contact": {"name": "李工", "phone": "13800000000"}},
            headers=world.buyer.headers,
        )
        assert assert_problem(interest, 409)["type"] == "urn:techmarket:problem:owner-suspended"
        assert await count_proposals(world.stack) == (0, 0)
        reinstated = await world.client.post(f"{url}/reinstate", headers=admin.headers)
        assert reinstated.status_code == 200, reinstated.text
        await actors.sync_directory()
        await world.propose()

    async def test_a_listing_past_its_last_day_cannot_be_proposed(self, world: World) -> None:
        async with world.stack.service_app("market").state.sessionmaker() as session, session.begin():
            await session.execute(
                update(Achievement)
                .where(Achievement.id == uuid.UUID(world.achievement["id"]))  # type: ignore[arg-type]
                .values(valid_until=today_in_china() - dt.timedelta(days=1))
            )
        response = await world.client.post(
            "/market/proposals", json=world.proposal_body(), headers=world.broker.headers
        )
        assert "achievement_id" in error_fields(assert_problem(response, 422))
        assert await count_proposals(world.stack) == (0, 0)


class TestConsent:
    @pytest.mark.parametrize("first", ["seller", "buyer"])
    async def test_both_sides_accept_in_either_order(self, world: World, first: str) -> None:
        proposal = await world.propose()
        sides = {"seller": world.seller, "buyer": world.buyer}
        second = "buyer" if first == "seller" else "seller"
        one = await world.act(sides[first], proposal["id"], "accept")
        assert one.status_code == 200, one.text
        assert one.headers["etag"] == '"v2"'
        assert one.json()["status"] == f"{first}_accepted"
        assert one.json()[f"{first}_accepted_at"] is not None
        assert one.json()["agreed_at"] is None
        again = await world.act(sides[first], proposal["id"], "accept")
        assert assert_problem(again, 409)["type"] == "urn:techmarket:problem:already-accepted"
        two = await world.act(sides[second], proposal["id"], "accept")
        assert two.status_code == 200, two.text
        assert two.headers["etag"] == '"v3"'
        assert two.json()["status"] == "agreed"
        assert two.json()["agreed_at"] is not None
        # Agreed is final.
        for actor, action in ((world.seller, "decline"), (world.broker, "withdraw"), (world.buyer, "accept")):
            assert_problem(await world.act(actor, proposal["id"], action), 409)

    async def test_an_org_admin_accepts_for_its_side(self, world: World) -> None:
        proposal = await world.propose()
        admin_of_seller = await world.actors.colleague(world.seller, roles=("org_admin",))
        assert (await world.ok(admin_of_seller, proposal["id"], "accept"))["status"] == "seller_accepted"

    async def test_decline_records_the_reason_and_side(self, world: World) -> None:
        proposal = await world.propose()
        await world.ok(world.seller, proposal["id"], "accept")
        # A side that accepted may still decline until both have.
        declined = await world.ok(world.seller, proposal["id"], "decline", {"reason": "  已与他方签约  "})
        assert declined["status"] == "declined"
        assert declined["decline_reason"] == "已与他方签约"
        assert declined["declined_side"] == "seller"
        assert_problem(await world.act(world.buyer, proposal["id"], "accept"), 409)

    async def test_decline_needs_a_reason(self, world: World) -> None:
        proposal = await world.propose()
        for body in ({}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 2001}):
            response = await world.act(world.buyer, proposal["id"], "decline", body)
            assert "reason" in error_fields(assert_problem(response, 422)), body
        stored = await world.client.get(f"/market/proposals/{proposal['id']}", headers=world.buyer.headers)
        assert stored.json()["status"] == "proposed"
        assert stored.headers["etag"] == '"v1"'

    async def test_broker_withdraws(self, world: World) -> None:
        proposal = await world.propose()
        await world.ok(world.buyer, proposal["id"], "accept")
        withdrawn = await world.ok(world.broker, proposal["id"], "withdraw")
        assert withdrawn["status"] == "withdrawn"
        assert_problem(await world.act(world.seller, proposal["id"], "accept"), 409)

    async def test_accept_needs_the_listings_still_on_the_market(self, world: World) -> None:
        proposal = await world.propose()
        await transition(world.stack, world.seller, "achievements", world.achievement["id"], "withdraw")
        body = assert_problem(await world.act(world.buyer, proposal["id"], "accept"), 409)
        assert body["type"] == "urn:techmarket:problem:listing-unavailable"
        assert body["listing"] == "achievement"


class TestConcurrency:
    async def test_transitions_need_if_match(self, world: World) -> None:
        proposal = await world.propose()
        url = f"/market/proposals/{proposal['id']}"
        for action, body in (("accept", None), ("decline", {"reason": "不合适"}), ("withdraw", None)):
            actor = world.broker if action == "withdraw" else world.seller
            missing = await world.client.post(f"{url}/{action}", json=body, headers=actor.headers)
            assert "If-Match" in error_fields(assert_problem(missing, 428))
            stale = await world.client.post(f"{url}/{action}", json=body, headers={**actor.headers, "If-Match": '"v9"'})
            assert assert_problem(stale, 412)["current_etag"] == '"v1"'
        current = await world.client.get(url, headers=world.seller.headers)
        assert current.headers["etag"] == '"v1"'
        assert current.json()["status"] == "proposed"
        accepted = await world.client.post(f"{url}/accept", headers={**world.seller.headers, "If-Match": '"v1"'})
        assert accepted.status_code == 200
        # The buyer read v1 before the seller's accept: its write is refused, nothing changes.
        late = await world.client.post(f"{url}/accept", headers={**world.buyer.headers, "If-Match": '"v1"'})
        assert assert_problem(late, 412)["current_etag"] == '"v2"'
        star = await world.client.post(f"{url}/accept", headers={**world.buyer.headers, "If-Match": "*"})
        assert star.json()["status"] == "agreed"


class TestExpiry:
    async def test_the_sweep_expires_open_proposals_only(self, world: World) -> None:
        stale = await world.propose()
        agreed = await world.agreed(demand_id=(await world.another_demand())["id"])
        past = utcnow() - dt.timedelta(minutes=1)
        for proposal in (stale, agreed):
            await set_expires_at(world.stack, proposal["id"], past)
        done = await run_maintenance(world.stack.service_app("market").state.sessionmaker, maintenance_jobs())
        assert done["proposals_expired"] == 1
        seen = await world.client.get(f"/market/proposals/{stale['id']}", headers=world.seller.headers)
        assert (seen.json()["status"], seen.headers["etag"]) == ("expired", '"v2"')
        assert (await world.client.get(f"/market/proposals/{agreed['id']}", headers=world.seller.headers)).json()[
            "status"
        ] == "agreed"
        history = await world.client.get(f"/market/proposals/{stale['id']}/history", headers=world.broker.headers)
        last = history.json()["items"][-1]
        assert (last["action"], last["from_status"], last["to_status"], last["actor_subject"]) == (
            "expired",
            "proposed",
            "expired",
            "system",
        )
        assert (await run_maintenance(world.stack.service_app("market").state.sessionmaker, maintenance_jobs()))[
            "proposals_expired"
        ] == 0
        # An expired proposal frees its slot.
        assert (await world.propose())["status"] == "proposed"

    async def test_an_overdue_proposal_is_expired_before_the_sweep(self, world: World) -> None:
        proposal = await world.propose()
        await world.ok(world.seller, proposal["id"], "accept")
        await set_expires_at(world.stack, proposal["id"], utcnow() - dt.timedelta(seconds=1))
        # A transition on it is 409, whatever the If-Match, and writes nothing.
        late = await world.client.post(
            f"/market/proposals/{proposal['id']}/accept", headers={**world.buyer.headers, "If-Match": '"v2"'}
        )
        assert assert_problem(late, 409)["type"] == "urn:techmarket:problem:proposal-expired"
        # A list or a GET records the expiry.
        listed = await world.client.get("/market/proposals?status=expired", headers=world.buyer.headers)
        assert [p["id"] for p in listed.json()["items"]] == [proposal["id"]]
        seen = await world.client.get(f"/market/proposals/{proposal['id']}", headers=world.buyer.headers)
        assert (seen.json()["status"], seen.headers["etag"]) == ("expired", '"v3"')

    async def test_a_new_proposal_replaces_an_overdue_one(self, world: World) -> None:
        old = await world.propose()
        await set_expires_at(world.stack, old["id"], utcnow() - dt.timedelta(seconds=1))
        new = await world.propose()
        assert new["id"] != old["id"]
        seen = await world.client.get(f"/market/proposals/{old['id']}", headers=world.broker.headers)
        assert seen.json()["status"] == "expired"

    async def test_the_ttl_is_configurable(self, world: World) -> None:
        world.stack.service_app("market").state.settings.proposal_ttl_days = 7
        proposal = await world.propose()
        created = dt.datetime.fromisoformat(proposal["created_at"])
        assert dt.datetime.fromisoformat(proposal["expires_at"]) - created == dt.timedelta(days=7)


class TestHistoryAndLists:
    async def test_history_has_every_transition_with_actor_and_time(self, world: World) -> None:
        proposal = await world.propose()
        await world.ok(world.buyer, proposal["id"], "accept")
        await world.ok(world.seller, proposal["id"], "accept")
        response = await world.client.get(
            f"/market/proposals/{proposal['id']}/events", params={"limit": 2}, headers=world.seller.headers
        )
        page = response.json()
        assert [(e["action"], e["from_status"], e["to_status"]) for e in page["items"]] == [
            ("created", None, "proposed"),
            ("accepted", "proposed", "buyer_accepted"),
        ]
        rest = await world.client.get(
            f"/market/proposals/{proposal['id']}/events",
            params={"limit": 2, "cursor": page["next_cursor"]},
            headers=world.seller.headers,
        )
        last = rest.json()["items"]
        assert [(e["action"], e["to_status"], e["details"]) for e in last] == [
            ("accepted", "agreed", {"side": "seller"})
        ]
        assert rest.json()["next_cursor"] is None
        events = [*page["items"], *last]
        assert [e["actor_subject"] for e in events] == [world.broker.subject, world.buyer.subject, world.seller.subject]
        assert [e["actor_org_id"] for e in events] == [
            str(world.broker.org_id),
            str(world.buyer.org_id),
            str(world.seller.org_id),
        ]
        assert all(e["occurred_at"] and e["entity_kind"] == "proposal" for e in events)
        bad = await world.client.get(
            f"/market/proposals/{proposal['id']}/events", params={"cursor": "garbage"}, headers=world.seller.headers
        )
        assert "cursor" in error_fields(assert_problem(bad, 422))

    async def test_history_is_the_deprecated_alias_of_events(self, world: World) -> None:
        proposal = await world.propose()
        await world.ok(world.buyer, proposal["id"], "accept")
        url = f"/market/proposals/{proposal['id']}"
        events = await world.client.get(f"{url}/events", headers=world.seller.headers)
        history = await world.client.get(f"{url}/history", headers=world.seller.headers)
        assert events.status_code == history.status_code == 200
        assert history.json() == events.json()
        assert len(events.json()["items"]) == 2
        assert_problem(await world.client.get(f"{url}/history"), 401)
        paths = (await world.client.get("/market/openapi.json")).json()["paths"]
        assert paths["/proposals/{proposal_id}/history"]["get"]["deprecated"] is True
        assert "deprecated" not in paths["/proposals/{proposal_id}/events"]["get"]

    async def test_lists_by_role_and_status_paginated(self, world: World) -> None:
        demands = [world.demand, await world.another_demand(), await world.another_demand()]
        ids = [(await world.propose(demand_id=d["id"]))["id"] for d in demands]
        await world.ok(world.seller, ids[0], "accept")

        async def listed(actor: Any, **params: Any) -> list[str]:
            response = await world.client.get("/market/proposals", params=params, headers=actor.headers)
            assert response.status_code == 200, response.text
            return [p["id"] for p in response.json()["items"]]

        newest_first = list(reversed(ids))
        assert await listed(world.seller) == newest_first
        assert await listed(world.seller, role="seller") == newest_first
        assert await listed(world.seller, role="buyer") == []
        assert await listed(world.buyer, role="buyer") == newest_first
        assert await listed(world.broker, role="broker") == newest_first
        assert await listed(world.broker_member) == newest_first
        assert await listed(world.seller, status="seller_accepted") == [ids[0]]
        assert await listed(world.outsider) == []
        first = await world.client.get("/market/proposals", params={"limit": 2}, headers=world.buyer.headers)
        second = await world.client.get(
            "/market/proposals", params={"limit": 2, "cursor": first.json()["next_cursor"]}, headers=world.buyer.headers
        )
        assert [p["id"] for p in first.json()["items"] + second.json()["items"]] == newest_first
        assert second.json()["next_cursor"] is None
        for params, field in (
            ({"role": "registrar"}, "role"),
            ({"status": "maybe"}, "status"),
            ({"limit": 0}, "limit"),
            ({"cursor": "garbage"}, "cursor"),
        ):
            response = await world.client.get("/market/proposals", params=params, headers=world.seller.headers)
            assert field in error_fields(assert_problem(response, 422)), params
        assert_problem(await world.client.get("/market/proposals"), 401)
        service = await world.actors.service_client(scopes=("market:read",))
        assert_problem(await world.client.get("/market/proposals", headers=service.headers), 403)

    async def test_unknown_and_malformed_ids(self, world: World) -> None:
        unknown = uuid.uuid4()
        for path in ("", "/history", "/contract-draft"):
            assert_problem(
                await world.client.get(f"/market/proposals/{unknown}{path}", headers=world.admin.headers), 404
            )
            bad = await world.client.get(f"/market/proposals/nope{path}", headers=world.admin.headers)
            assert "proposal_id" in error_fields(assert_problem(bad, 422))
        for action in ("accept", "decline", "withdraw"):
            response = await world.client.post(
                f"/market/proposals/{unknown}/{action}",
                json={"reason": "x"} if action == "decline" else None,
                headers={**world.seller.headers, "If-Match": '"v1"'},
            )
            assert_problem(response, 404)
