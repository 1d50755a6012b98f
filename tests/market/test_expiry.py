"""Expiry: open listings past their last day (Beijing time) move to expired — on read, and by the sweep."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select, update

from services.market.audit.models import AuditEvent
from services.market.listings.models import Achievement, Demand
from services.market.outbox.models import OutboxEvent
from services.market.worker import maintenance_jobs, run_maintenance
from shared.clock import today_in_china
from tests.conftest import Stack
from tests.market.helpers import create_listing, demand_body, transition
from tests.support.problems import assert_problem


async def set_last_day(stack: Stack, model: Any, listing_id: str, column: str, day: dt.date) -> None:
    # The API refuses past dates, so time passing is simulated in the database.
    async with stack.service_app("market").state.sessionmaker() as session:
        await session.execute(update(model).where(model.id == uuid.UUID(listing_id)).values({column: day}))
        await session.commit()


async def events_of(stack: Stack, listing_id: str) -> tuple[list[AuditEvent], list[OutboxEvent]]:
    async with stack.service_app("market").state.sessionmaker() as session:
        audit = (
            await session.execute(select(AuditEvent).where(AuditEvent.entity_id == uuid.UUID(listing_id)))
        ).scalars()  # type: ignore[arg-type]
        outbox = (
            await session.execute(select(OutboxEvent).where(OutboxEvent.entity_id == uuid.UUID(listing_id)))
        ).scalars()  # type: ignore[arg-type]
        return list(audit), list(outbox)


class TestExpiryOnRead:
    async def test_published_achievement_past_its_day_expires_when_read(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        listing = await create_listing(stack, uni, valid_until=today_in_china().isoformat())
        await transition(stack, uni, "achievements", listing["id"], "publish")
        # The last day itself is still open.
        assert (await stack.client.get(f"/market/achievements/{listing['id']}")).json()["status"] == "published"
        await set_last_day(stack, Achievement, listing["id"], "valid_until", today_in_china() - dt.timedelta(days=1))
        assert_problem(await stack.client.get(f"/market/achievements/{listing['id']}"), 404)
        owner = await stack.client.get(f"/market/achievements/{listing['id']}", headers=uni.headers)
        assert owner.json()["status"] == "expired"
        assert owner.json()["version"] == 3
        audit, outbox = await events_of(stack, listing["id"])
        assert (audit[-1].action, audit[-1].from_status, audit[-1].to_status, audit[-1].actor_subject) == (
            "expired",
            "published",
            "expired",
            "system",
        )
        assert (outbox[-1].event_type, outbox[-1].op, outbox[-1].version) == ("achievement.expired", "delete", 3)
        # Expired is final: no transition out of it.
        assert_problem(await transition(stack, uni, "achievements", listing["id"], "withdraw"), 409)

    async def test_list_expires_due_listings_first(self, stack: Stack, actors: Any) -> None:
        company = await actors.org_member(kind="enterprise")
        demand = await create_listing(stack, company, "demands", demand_body(deadline=today_in_china().isoformat()))
        await transition(stack, company, "demands", demand["id"], "publish")
        await set_last_day(stack, Demand, demand["id"], "deadline", today_in_china() - dt.timedelta(days=1))
        assert (await stack.client.get("/market/demands")).json()["items"] == []
        mine = (await stack.client.get("/market/demands", params={"status": "expired"}, headers=company.headers)).json()
        assert [i["id"] for i in mine["items"]] == [demand["id"]]


class TestExpirySweep:
    async def test_sweep_expires_open_listings_only(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        due = await create_listing(stack, uni, patents=[], title="过期的")
        withdrawn = await create_listing(stack, uni, patents=[], title="撤回的")
        await transition(stack, uni, "achievements", withdrawn["id"], "withdraw")
        future = await create_listing(stack, uni, patents=[], title="还有效的")
        yesterday = today_in_china() - dt.timedelta(days=1)
        for listing in (due, withdrawn):
            await set_last_day(stack, Achievement, listing["id"], "valid_until", yesterday)
        await set_last_day(stack, Achievement, future["id"], "valid_until", today_in_china() + dt.timedelta(days=30))
        done = await run_maintenance(stack.service_app("market").state.sessionmaker, maintenance_jobs())
        assert done["achievements_expired"] == 1
        assert done["demands_expired"] == 0
        statuses = {
            item["title"]: item["status"]
            for item in (await stack.client.get("/market/achievements", headers=uni.headers)).json()["items"]
        }
        assert statuses == {"过期的": "expired", "撤回的": "withdrawn", "还有效的": "draft"}
        assert (await run_maintenance(stack.service_app("market").state.sessionmaker, maintenance_jobs()))[
            "achievements_expired"
        ] == 0
