"""The inbox: who is notified of each proposal and contract event, and the four endpoints (both backends)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import sqlalchemy as sa

from services.market.notifications.models import Notification
from services.market.proposals import service as proposals_service
from services.market.proposals.schemas import DeclineRequest
from shared.pagination import encode_cursor
from shared.security import Principal
from tests.conftest import Stack
from tests.market.contracts.factories import register, registrar, submit
from tests.market.proposals.test_deal_contracts import draft_of, filled
from tests.market.proposals.world import World
from tests.support.actors import Actor, Actors
from tests.support.problems import assert_problem, error_fields

URL = "/market/notifications"


async def inbox(client: httpx.AsyncClient, actor: Actor, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(URL, params={"limit": "100", **params}, headers=actor.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def types(client: httpx.AsyncClient, actor: Actor) -> list[str]:
    """Types of the actor's notifications, oldest first."""
    return [n["type"] for n in reversed(await inbox(client, actor))]


async def unread(client: httpx.AsyncClient, actor: Actor) -> int:
    response = await client.get(f"{URL}/unread-count", headers=actor.headers)
    assert response.status_code == 200, response.text
    count: int = response.json()["unread"]
    return count


async def count_notifications(stack: Stack) -> int:
    async with stack.service_app("market").state.sessionmaker() as session:
        return int((await session.execute(sa.select(sa.func.count()).select_from(Notification))).scalar_one())


class TestRecording:
    async def test_a_broker_proposal_reaches_both_owner_organizations_only(self, world: World) -> None:
        proposal = await world.propose()
        seller_colleague = await world.actors.colleague(world.seller)
        for owner in (world.seller, world.buyer, seller_colleague):
            items = await inbox(world.client, owner)
            assert [(n["type"], n["subject_type"], n["subject_id"]) for n in items] == [
                ("proposal.received", "proposal", proposal["id"])
            ]
            assert items[0]["addressed_to"] == "organization"
            assert items[0]["read_at"] is None
            assert items[0]["data"]["achievement_id"] == world.achievement["id"]
        for other in (world.broker, world.broker_member, world.outsider, world.admin):
            assert await inbox(world.client, other) == []

    async def test_accepted_then_agreed_reach_the_other_side_and_the_broker(self, world: World) -> None:
        proposal = await world.propose()
        await world.ok(world.seller, proposal["id"], "accept")
        assert await types(world.client, world.buyer) == ["proposal.received", "proposal.accepted"]
        assert await types(world.client, world.seller) == ["proposal.received"]
        assert await types(world.client, world.broker) == ["proposal.accepted"]
        await world.ok(world.buyer, proposal["id"], "accept")
        assert await types(world.client, world.seller) == ["proposal.received", "proposal.agreed"]
        assert await types(world.client, world.buyer) == ["proposal.received", "proposal.accepted", "proposal.agreed"]
        broker_items = await inbox(world.client, world.broker)
        assert [n["type"] for n in broker_items] == ["proposal.agreed", "proposal.accepted"]
        assert broker_items[0]["addressed_to"] == "user"
        # The broker who proposed is told personally; the colleague without a part in it is not.
        assert await inbox(world.client, world.broker_member) == []
        assert await inbox(world.client, world.outsider) == []
        # Public data only: the contacts revealed by the agreement are not copied into the inbox.
        for item in await inbox(world.client, world.seller):
            assert "contact" not in str(item).lower()

    async def test_declined_reaches_the_other_side_and_the_broker(self, world: World) -> None:
        proposal = await world.propose()
        await world.ok(world.buyer, proposal["id"], "decline", {"reason": "预算不足"})
        assert await types(world.client, world.seller) == ["proposal.received", "proposal.declined"]
        assert await types(world.client, world.buyer) == ["proposal.received"]
        broker_items = await inbox(world.client, world.broker)
        assert [n["type"] for n in broker_items] == ["proposal.declined"]
        assert broker_items[0]["data"]["reason"] == "预算不足"

    async def test_interest_reaches_the_owner(self, world: World) -> None:
        body = {"note": "希望实施该专利", "contact": {"name": "采购部 张经理", "phone": "023-61234567"}}
        url = f"/market/achievements/{world.achievement['id']}/interest"
        response = await world.client.post(url, json=body, headers=world.buyer.headers)
        assert response.status_code == 201, response.text
        assert await types(world.client, world.seller) == ["interest.received"]
        assert await inbox(world.client, world.buyer) == []
        assert "023-61234567" not in str(await inbox(world.client, world.seller))

    async def test_contract_submitted_reaches_its_registrars_and_the_outcome_its_people(
        self, world: World, office: Actor, actors: Actors
    ) -> None:
        other_office = await registrar(actors, region_code="500100")
        office_member = await actors.colleague(office, roles=("member",))
        proposal = await world.agreed()
        draft = await draft_of(world, world.broker, proposal["id"])
        response = await world.client.post("/market/contracts", json=filled(draft), headers=world.broker.headers)
        assert response.status_code == 201, response.text
        contract = response.json()
        items = await inbox(world.client, office)
        assert [(n["type"], n["subject_id"]) for n in items] == [("contract.submitted", contract["id"])]
        assert await inbox(world.client, other_office) == []
        assert await inbox(world.client, office_member) == []  # role-addressed: registrars only

        await register(world.stack, office, contract["id"])
        for party in (world.seller, world.buyer, world.broker):
            newest = (await inbox(world.client, party))[0]
            assert (newest["type"], newest["subject_id"]) == ("contract.registered", contract["id"])
            assert newest["data"]["registration_no"]
        assert (await inbox(world.client, world.broker))[0]["addressed_to"] == "user"
        # The submitter's own organization is not told again: its member acted and was told personally.
        assert "contract.registered" not in await types(world.client, world.broker_member)

    async def test_a_rejected_contract_reaches_the_submitter(self, stack: Stack, office: Actor, actors: Actors) -> None:
        seller = await actors.org_member(kind="university", roles=("member",), region_code="510104")
        contract = await submit(stack, seller)
        response = await stack.client.post(
            f"/market/contracts/{contract['id']}/reject",
            json={"reason": "技术交易额未扣除设备费"},
            headers=office.headers,
        )
        assert response.status_code == 200, response.text
        items = await inbox(stack.client, seller)
        assert [n["type"] for n in items] == ["contract.rejected"]
        assert items[0]["data"]["reason"] == "技术交易额未扣除设备费"
        # Resubmitting tells the office again.
        resubmitted = await stack.client.post(f"/market/contracts/{contract['id']}/resubmit", headers=seller.headers)
        assert resubmitted.status_code == 200, resubmitted.text
        assert await types(stack.client, office) == ["contract.submitted", "contract.submitted"]

    async def test_a_failed_event_stores_no_notification(self, world: World) -> None:
        proposal = await world.propose()
        before = await count_notifications(world.stack)
        proposal_etag = await world.etag(proposal["id"])
        principal = Principal(
            subject=world.seller.subject,
            token_id="t",
            roles=frozenset({"member"}),
            org_id=world.seller.org_id,
            org_kind="university",
            org_verified=True,
        )
        async with world.stack.service_app("market").state.sessionmaker() as session:
            await proposals_service.decline(
                session=session,
                principal=principal,
                proposal_id=uuid.UUID(proposal["id"]),
                if_match=proposal_etag,
                payload=DeclineRequest(reason="预算不足"),
            )
            # Written in the event's transaction: visible inside it ...
            inside = (await session.execute(sa.select(sa.func.count()).select_from(Notification))).scalar_one()
            assert inside == before + 2
            await session.rollback()  # ... and gone with it when the request fails.
        assert await count_notifications(world.stack) == before
        # A refused transition stores none either.
        stale = {**world.seller.headers, "If-Match": '"v99"'}
        refused = await world.client.post(
            f"/market/proposals/{proposal['id']}/decline", json={"reason": "x"}, headers=stale
        )
        assert refused.status_code == 412, refused.text
        assert await count_notifications(world.stack) == before


class TestInbox:
    async def test_pages_newest_first_and_the_unread_filter(self, world: World) -> None:
        ids = []
        for _ in range(3):
            demand = await world.another_demand()
            ids.append((await world.propose(demand_id=demand["id"]))["id"])
        first = await world.client.get(URL, params={"limit": "2"}, headers=world.seller.headers)
        assert first.status_code == 200, first.text
        page = first.json()
        assert [n["subject_id"] for n in page["items"]] == [ids[2], ids[1]]
        assert page["next_cursor"]
        second = await world.client.get(
            URL, params={"limit": "2", "cursor": page["next_cursor"]}, headers=world.seller.headers
        )
        assert [n["subject_id"] for n in second.json()["items"]] == [ids[0]]
        assert second.json()["next_cursor"] is None

        newest = page["items"][0]["id"]
        read = await world.client.post(f"{URL}/{newest}/read", headers=world.seller.headers)
        assert read.status_code == 200, read.text
        assert read.json()["read_at"] is not None
        again = await world.client.post(f"{URL}/{newest}/read", headers=world.seller.headers)
        assert again.json()["read_at"] == read.json()["read_at"]  # idempotent
        unread_items = await inbox(world.client, world.seller, unread="true")
        assert [n["subject_id"] for n in unread_items] == [ids[1], ids[0]]
        assert await unread(world.client, world.seller) == 2
        assert [n["read_at"] is not None for n in await inbox(world.client, world.seller)] == [True, False, False]

    async def test_read_state_of_an_organizations_notification_is_per_user(self, world: World) -> None:
        await world.propose()
        colleague = await world.actors.colleague(world.seller)
        [item] = await inbox(world.client, world.seller)
        assert (await world.client.post(f"{URL}/{item['id']}/read", headers=world.seller.headers)).status_code == 200
        assert await unread(world.client, world.seller) == 0
        assert await unread(world.client, colleague) == 1
        assert await unread(world.client, world.buyer) == 1

    async def test_read_all_and_the_unread_count(self, world: World) -> None:
        proposal = await world.propose()
        await world.ok(world.seller, proposal["id"], "accept")
        await world.ok(world.buyer, proposal["id"], "accept")
        assert await unread(world.client, world.broker) == 2  # user-addressed
        assert await unread(world.client, world.buyer) == 3  # organization-addressed
        for actor, marked in ((world.broker, 2), (world.buyer, 3)):
            response = await world.client.post(f"{URL}/read-all", headers=actor.headers)
            assert response.status_code == 200, response.text
            assert response.json() == {"read": marked}
            assert await unread(world.client, actor) == 0
            assert await inbox(world.client, actor, unread="true") == []
            again = await world.client.post(f"{URL}/read-all", headers=actor.headers)
            assert again.json() == {"read": 0}
        assert await unread(world.client, world.seller) == 2  # others' state untouched

    async def test_another_users_notification_is_404(self, world: World) -> None:
        proposal = await world.propose()
        await world.ok(world.seller, proposal["id"], "accept")
        [broker_item] = await inbox(world.client, world.broker)
        seller_item = (await inbox(world.client, world.seller))[0]
        for actor, item in (
            (world.broker_member, broker_item),
            (world.outsider, broker_item),
            (world.outsider, seller_item),
            (world.broker, seller_item),
        ):
            response = await world.client.post(f"{URL}/{item['id']}/read", headers=actor.headers)
            assert_problem(response, 404)
        assert_problem(await world.client.post(f"{URL}/{uuid.uuid4()}/read", headers=world.seller.headers), 404)
        assert await unread(world.client, world.broker) == 1  # nobody else's read marked it

    async def test_anonymous_is_401(self, stack: Stack) -> None:
        for method, path in (
            ("GET", URL),
            ("GET", f"{URL}/unread-count"),
            ("POST", f"{URL}/read-all"),
            ("POST", f"{URL}/{uuid.uuid4()}/read"),
        ):
            assert_problem(await stack.client.request(method, path), 401)

    async def test_a_bad_cursor_or_id_is_422(self, world: World) -> None:
        for cursor in ("not-a-cursor!", encode_cursor("x", 1), encode_cursor(123)):
            response = await world.client.get(URL, params={"cursor": cursor}, headers=world.seller.headers)
            assert error_fields(assert_problem(response, 422)) == ["cursor"]
        response = await world.client.post(f"{URL}/nope/read", headers=world.seller.headers)
        assert_problem(response, 422)
