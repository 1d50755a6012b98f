"""Expiring-soon notices: proposal.expiring (3 days) and listing.expiring (7 days), once per subject and expiry.

The jobs take ``now``: each test runs them at explicit instants around a subject's expiry (both backends).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.market.listings import service as listings_service
from services.market.listings.kinds import ACHIEVEMENT, DEMAND
from services.market.listings.models import Achievement, Demand
from services.market.notifications import service as notifications_service
from services.market.notifications.models import Notification, NotificationMarker
from services.market.proposals import service as proposals_service
from services.market.worker import maintenance_jobs, run_maintenance
from shared.clock import CHINA_TZ, today_in_china, utcnow
from tests.conftest import Stack
from tests.market.helpers import create_listing, demand_body, transition
from tests.market.notifications.test_inbox import inbox
from tests.market.proposals.world import World, set_expires_at
from tests.market.test_expiry import set_last_day
from tests.support.actors import Actor, Actors

Job = Callable[[AsyncSession], Awaitable[int]]


async def run(stack: Stack, job: Job) -> int:
    """One run of a job in its own transaction, as the maintenance loop runs it."""
    async with stack.service_app("market").state.sessionmaker() as session, session.begin():
        return await job(session)


def proposals_at(now: dt.datetime) -> Job:
    return lambda session: proposals_service.notify_expiring(session=session, now=now)


def listings_at(kind: Any, now: dt.datetime) -> Job:
    return lambda session: listings_service.notify_expiring(session=session, kind=kind, now=now)


def noon_in_china(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), tzinfo=CHINA_TZ).astimezone(dt.UTC)


async def expiring(client: Any, actor: Actor) -> list[dict[str, Any]]:
    """The actor's expiring-soon notices, newest first."""
    return [n for n in await inbox(client, actor) if n["type"].endswith(".expiring")]


async def stored_notices(stack: Stack) -> int:
    async with stack.service_app("market").state.sessionmaker() as session:
        query = sa.select(sa.func.count()).select_from(Notification).where(Notification.type.endswith(".expiring"))  # type: ignore[attr-defined]
        return int((await session.execute(query)).scalar_one())


def expires_at(proposal: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(proposal["expires_at"])


class TestProposalExpiring:
    async def test_three_days_before_once_to_both_sides_and_the_broker(self, world: World) -> None:
        proposal = await world.propose()
        expiry = expires_at(proposal)
        seller_colleague = await world.actors.colleague(world.seller)
        assert await run(world.stack, proposals_at(expiry - dt.timedelta(days=4))) == 0
        assert await run(world.stack, proposals_at(expiry - dt.timedelta(days=3))) == 1
        for party in (world.seller, world.buyer, seller_colleague, world.broker):
            items = await expiring(world.client, party)
            assert [(n["type"], n["subject_type"], n["subject_id"]) for n in items] == [
                ("proposal.expiring", "proposal", proposal["id"])
            ]
            assert items[0]["title"] == "撮合方案将在3天内过期，请尽快答复"
            assert dt.datetime.fromisoformat(items[0]["data"]["expires_at"]) == expiry
            assert items[0]["data"]["achievement_id"] == world.achievement["id"]
        assert (await expiring(world.client, world.broker))[0]["addressed_to"] == "user"
        assert (await expiring(world.client, world.seller))[0]["addressed_to"] == "organization"
        for other in (world.broker_member, world.outsider, world.admin):
            assert await expiring(world.client, other) == []
        # Public data only: no contacts of the listings.
        assert "contact" not in str(await expiring(world.client, world.buyer)).lower()
        # Later runs, nearer to the expiry, find the notice already given.
        assert await run(world.stack, proposals_at(expiry - dt.timedelta(days=3))) == 0
        assert await run(world.stack, proposals_at(expiry - dt.timedelta(hours=1))) == 0
        assert await stored_notices(world.stack) == 3  # seller org, buyer org, broker user

    async def test_past_its_expiry_it_is_not_announced(self, world: World) -> None:
        proposal = await world.propose()
        # Overdue but not yet swept: it is expired, not expiring.
        assert await run(world.stack, proposals_at(expires_at(proposal) + dt.timedelta(seconds=1))) == 0
        assert await stored_notices(world.stack) == 0

    async def test_a_side_that_accepted_is_not_told(self, world: World) -> None:
        proposal = await world.propose()
        await world.ok(world.seller, proposal["id"], "accept")
        assert await run(world.stack, proposals_at(expires_at(proposal) - dt.timedelta(days=2))) == 1
        assert await expiring(world.client, world.seller) == []
        assert [n["subject_id"] for n in await expiring(world.client, world.buyer)] == [proposal["id"]]
        assert [n["subject_id"] for n in await expiring(world.client, world.broker)] == [proposal["id"]]
        assert (await expiring(world.client, world.buyer))[0]["data"]["status"] == "seller_accepted"

    async def test_an_interest_reaches_the_owner_only(self, world: World) -> None:
        body = {"note": "希望实施该专利", "contact": {"name": "采购部 张经理", "phone": "023-61234567"}}
        url = f"/market/achievements/{world.achievement['id']}/interest"
        response = await world.client.post(url, json=body, headers=world.buyer.headers)
        assert response.status_code == 201, response.text
        interest = response.json()
        assert await run(world.stack, proposals_at(expires_at(interest) - dt.timedelta(days=1))) == 1
        items = await expiring(world.client, world.seller)
        assert [(n["subject_id"], n["data"]["origin"]) for n in items] == [(interest["id"], "interest")]
        assert "023-61234567" not in str(items)
        # The interested enterprise asked (its consent is given); no broker.
        assert await expiring(world.client, world.buyer) == []
        assert await stored_notices(world.stack) == 1

    async def test_an_extended_expiry_is_announced_again(self, world: World) -> None:
        proposal = await world.propose()
        first = expires_at(proposal)
        assert await run(world.stack, proposals_at(first - dt.timedelta(days=3))) == 1
        later = first + dt.timedelta(days=10)
        await set_expires_at(world.stack, proposal["id"], later)
        assert await run(world.stack, proposals_at(first - dt.timedelta(days=1))) == 0  # no longer near
        assert await run(world.stack, proposals_at(later - dt.timedelta(days=3))) == 1
        assert await run(world.stack, proposals_at(later - dt.timedelta(days=2))) == 0
        items = await expiring(world.client, world.buyer)
        assert [dt.datetime.fromisoformat(n["data"]["expires_at"]) for n in items] == [later, first]

    async def test_ended_proposals_are_not_announced(self, world: World) -> None:
        withdrawn = await world.propose()
        await world.ok(world.broker, withdrawn["id"], "withdraw")
        declined = await world.propose(demand_id=(await world.another_demand())["id"])
        await world.ok(world.seller, declined["id"], "decline")
        agreed = await world.agreed(demand_id=(await world.another_demand())["id"])
        expired = await world.propose(demand_id=(await world.another_demand())["id"])
        await set_expires_at(world.stack, expired["id"], utcnow() - dt.timedelta(minutes=1))
        assert await run(world.stack, lambda session: proposals_service.expire_due(session=session)) == 1
        for ended in (withdrawn, declined, agreed):
            assert await run(world.stack, proposals_at(expires_at(ended) - dt.timedelta(days=1))) == 0
        # The expired one as if it were still open, a day before its (past) expiry.
        assert await run(world.stack, proposals_at(utcnow() - dt.timedelta(days=1))) == 0
        assert await stored_notices(world.stack) == 0

    async def test_two_concurrent_runs_send_once(self, world: World) -> None:
        proposal = await world.propose()
        job = proposals_at(expires_at(proposal) - dt.timedelta(days=2))
        sessionmaker = world.stack.service_app("market").state.sessionmaker
        async with sessionmaker() as first, first.begin():
            assert await job(first) == 1
            # The second process runs while the first one's markers are not committed yet: on PostgreSQL its
            # insert waits for them, on SQLite its BEGIN IMMEDIATE waits for the first writer.
            second = asyncio.create_task(run(world.stack, job))
            await wait_until_blocked(world.stack)
        assert await second == 0
        assert await stored_notices(world.stack) == 3

    async def test_the_maintenance_loop_runs_it(self, world: World) -> None:
        proposal = await world.propose()
        await set_expires_at(world.stack, proposal["id"], utcnow() + dt.timedelta(days=2))
        done = await run_maintenance(world.stack.service_app("market").state.sessionmaker, maintenance_jobs())
        assert done["proposals_expiring_notified"] == 1
        done = await run_maintenance(world.stack.service_app("market").state.sessionmaker, maintenance_jobs())
        assert done["proposals_expiring_notified"] == 0
        assert len(await expiring(world.client, world.buyer)) == 1


# Sessions of this test's database only (other test runs may share the server).
_WAITING_FOR_A_LOCK = sa.text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


async def wait_until_blocked(stack: Stack) -> None:
    """On PostgreSQL, until another session waits for a lock (the second run on the first one's markers)."""
    if stack.backend != "postgresql":
        await asyncio.sleep(0.05)  # let the second run reach its BEGIN IMMEDIATE (either order gives the same result)
        return
    engine = stack.service_app("market").state.engine
    for _ in range(200):
        async with engine.connect() as connection:
            waiting = (await connection.execute(_WAITING_FOR_A_LOCK)).scalar()
        if waiting:
            return
        await asyncio.sleep(0.025)
    raise AssertionError("the second run never waited for the first one's markers")


class TestListingExpiring:
    async def publish(self, stack: Stack, owner: Actor, kind: str = "achievements", **body: Any) -> dict[str, Any]:
        if kind == "demands":
            listing = await create_listing(stack, owner, kind, demand_body(**body))
        else:
            listing = await create_listing(stack, owner, kind, **body)
        assert (await transition(stack, owner, kind, listing["id"], "publish")).status_code == 200
        return listing

    async def test_seven_days_before_once_to_the_owner_organization(self, stack: Stack, actors: Actors) -> None:
        owner = await actors.org_member(kind="university")
        colleague = await actors.colleague(owner)
        outsider = await actors.org_member(kind="enterprise")
        last_day = today_in_china() + dt.timedelta(days=30)
        listing = await self.publish(stack, owner, title="一种锂电池极片检测装置", valid_until=last_day.isoformat())
        job = listings_at(ACHIEVEMENT, noon_in_china(last_day - dt.timedelta(days=8)))
        assert await run(stack, job) == 0
        assert await run(stack, listings_at(ACHIEVEMENT, noon_in_china(last_day - dt.timedelta(days=7)))) == 1
        for member in (owner, colleague):
            items = await expiring(stack.client, member)
            assert [(n["type"], n["subject_type"], n["subject_id"]) for n in items] == [
                ("listing.expiring", "achievement", listing["id"])
            ]
            assert items[0]["title"] == "您发布的科技成果将在7天内到期"
            assert items[0]["addressed_to"] == "organization"
            assert items[0]["data"] == {
                "achievement_id": listing["id"],
                "title": "一种锂电池极片检测装置",
                "status": "published",
                "valid_until": last_day.isoformat(),
            }
        assert await expiring(stack.client, outsider) == []
        assert await run(stack, listings_at(ACHIEVEMENT, noon_in_china(last_day))) == 0  # its last day: already told
        assert await stored_notices(stack) == 1

    async def test_a_demand_deadline_and_its_extension(self, stack: Stack, actors: Actors) -> None:
        owner = await actors.org_member(kind="enterprise")
        deadline = today_in_china() + dt.timedelta(days=20)
        demand = await self.publish(stack, owner, "demands", deadline=deadline.isoformat())
        assert await run(stack, listings_at(DEMAND, noon_in_china(deadline - dt.timedelta(days=3)))) == 1
        assert await run(stack, listings_at(ACHIEVEMENT, noon_in_china(deadline - dt.timedelta(days=3)))) == 0
        later = deadline + dt.timedelta(days=30)
        await set_last_day(stack, Demand, demand["id"], "deadline", later)
        assert await run(stack, listings_at(DEMAND, noon_in_china(later - dt.timedelta(days=8)))) == 0
        assert await run(stack, listings_at(DEMAND, noon_in_china(later - dt.timedelta(days=6)))) == 1
        assert await run(stack, listings_at(DEMAND, noon_in_china(later - dt.timedelta(days=5)))) == 0
        items = await expiring(stack.client, owner)
        assert [(n["subject_type"], n["data"]["deadline"]) for n in items] == [
            ("demand", later.isoformat()),
            ("demand", deadline.isoformat()),
        ]
        assert items[0]["title"] == "您发布的技术需求将在7天内到期"

    async def test_the_day_is_taken_in_beijing(self, stack: Stack, actors: Actors) -> None:
        owner = await actors.org_member(kind="university")
        last_day = today_in_china() + dt.timedelta(days=30)
        await self.publish(stack, owner, valid_until=last_day.isoformat())
        # 23:30 UTC is already the next day in Beijing: 7 days before the last day there.
        eight_days_before = last_day - dt.timedelta(days=8)
        late_utc = dt.datetime.combine(eight_days_before, dt.time(23, 30), tzinfo=dt.UTC)
        assert await run(stack, listings_at(ACHIEVEMENT, late_utc - dt.timedelta(hours=8))) == 0
        assert await run(stack, listings_at(ACHIEVEMENT, late_utc)) == 1

    async def test_listings_not_on_the_market_are_not_announced(self, stack: Stack, actors: Actors) -> None:
        owner = await actors.org_member(kind="university")
        last_day = today_in_china() + dt.timedelta(days=30)
        draft = await create_listing(stack, owner, patents=[], title="草稿", valid_until=last_day.isoformat())
        withdrawn = await self.publish(stack, owner, patents=[], title="撤回的", valid_until=last_day.isoformat())
        assert (await transition(stack, owner, "achievements", withdrawn["id"], "withdraw")).status_code == 200
        transferred = await self.publish(stack, owner, patents=[], title="已转让", valid_until=last_day.isoformat())
        assert (await transition(stack, owner, "achievements", transferred["id"], "transfer")).status_code == 200
        no_last_day = await self.publish(stack, owner, patents=[], title="长期有效")
        assert draft["status"] == "draft"
        assert no_last_day["valid_until"] is None
        assert await run(stack, listings_at(ACHIEVEMENT, noon_in_china(last_day - dt.timedelta(days=1)))) == 0
        # An expired one (past its last day, swept), run as if it were a day before that last day.
        expired = await self.publish(stack, owner, patents=[], title="过期的", valid_until=last_day.isoformat())
        yesterday = today_in_china() - dt.timedelta(days=1)
        await set_last_day(stack, Achievement, expired["id"], "valid_until", yesterday)
        swept = await run(stack, lambda session: listings_service.expire_due(session=session, kind=ACHIEVEMENT))
        assert swept == 1
        assert await run(stack, listings_at(ACHIEVEMENT, noon_in_china(yesterday - dt.timedelta(days=1)))) == 0
        assert await stored_notices(stack) == 0
        assert await expiring(stack.client, owner) == []

    async def test_under_negotiation_it_still_expires_and_is_announced(self, stack: Stack, actors: Actors) -> None:
        owner = await actors.org_member(kind="university")
        last_day = today_in_china() + dt.timedelta(days=30)
        listing = await self.publish(stack, owner, valid_until=last_day.isoformat())
        assert (await transition(stack, owner, "achievements", listing["id"], "negotiate")).status_code == 200
        assert await run(stack, listings_at(ACHIEVEMENT, noon_in_china(last_day - dt.timedelta(days=2)))) == 1
        assert (await expiring(stack.client, owner))[0]["data"]["status"] == "negotiating"

    async def test_markers_are_keyed_on_type_subject_and_expiry(self, stack: Stack, actors: Actors) -> None:
        owner = await actors.org_member(kind="university")
        last_day = today_in_china() + dt.timedelta(days=30)
        listing = await self.publish(stack, owner, valid_until=last_day.isoformat())
        assert await run(stack, listings_at(ACHIEVEMENT, noon_in_china(last_day - dt.timedelta(days=1)))) == 1
        async with stack.service_app("market").state.sessionmaker() as session:
            markers = (await session.execute(sa.select(NotificationMarker))).scalars().all()
        assert [(m.type, m.subject_id, m.occasion) for m in markers] == [
            ("listing.expiring", uuid.UUID(listing["id"]), last_day.isoformat())
        ]

    async def test_markers_are_purged_a_month_later(self, stack: Stack, actors: Actors) -> None:
        owner = await actors.org_member(kind="university")
        last_day = today_in_china() + dt.timedelta(days=30)
        await self.publish(stack, owner, valid_until=last_day.isoformat())
        told_at = noon_in_china(last_day - dt.timedelta(days=7))
        assert await run(stack, listings_at(ACHIEVEMENT, told_at)) == 1

        def purge(now: dt.datetime) -> Job:
            return lambda session: notifications_service.purge_markers(session=session, now=now)

        assert await run(stack, purge(told_at + dt.timedelta(days=29))) == 0
        assert await run(stack, purge(told_at + dt.timedelta(days=31))) == 1
        assert await stored_notices(stack) == 1  # the notification itself stays
