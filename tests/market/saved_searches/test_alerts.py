"""Match alerts: publishing or changing a listing alerts the saved searches it matches, once; digests at 09:00
Asia/Shanghai; the standing search of open demands; search outages; concurrent workers (both backends).

The loop is driven by hand (as the relay in tests/market/test_relay.py): ``match_alerts.service.run_pending`` with market's own
search client, which reaches the embedded search service in-process — nothing is faked.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from services.market.match_alerts import service as alerts
from services.market.matching.client import SearchClient
from services.market.saved_searches.models import MatchAlertJob, SavedSearch, SavedSearchHit
from shared.clock import today_in_china
from tests.conftest import Stack
from tests.market.helpers import achievement_body, create_listing, demand_body, transition
from tests.support.actors import Actor, Actors

URL = "/market/saved-searches"
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def beijing(day: dt.date, hour: int, minute: int) -> dt.datetime:
    """An explicit instant: ``hour:minute`` Beijing time on ``day``, in UTC."""
    return dt.datetime.combine(day, dt.time(hour, minute), SHANGHAI).astimezone(dt.UTC)


def battery(**overrides: Any) -> dict[str, Any]:
    """An achievement about lithium battery electrode inspection (no patent: several may be listed)."""
    values: dict[str, Any] = {
        "title": "一种锂电池极片缺陷在线检测装置",
        "summary": "基于机器视觉的锂电池极片表面缺陷在线检测",
        "description": "采用线阵相机对涂布极片成像，识别划痕、气泡和漏箔。",
        "keywords": ["锂电池", "机器视觉"],
        "technical_field": "new_energy",
        "patents": [],
        "trl": 6,
        "transfer_modes": ["ordinary_license"],
        "price": {"kind": "fixed", "min_fen": 50_000_000},
    }
    values.update(overrides)
    return achievement_body(**values)


async def publish(stack: Stack, actor: Actor, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    created = await create_listing(stack, actor, kind, body)
    response = await transition(stack, actor, kind, created["id"], "publish")
    assert response.status_code == 200, response.text
    published: dict[str, Any] = response.json()
    return published


async def save(stack: Stack, actor: Actor, **values: Any) -> dict[str, Any]:
    response = await stack.client.post(URL, json={"name": "电池", **values}, headers=actor.headers)
    assert response.status_code == 201, response.text
    saved: dict[str, Any] = response.json()
    return saved


async def run(stack: Stack, *, now: dt.datetime | None = None, search: SearchClient | None = None) -> int:
    market = stack.service_app("market")
    return await alerts.run_pending(
        sessionmaker=market.state.sessionmaker,
        search=search or market.state.search_client,
        settings=market.state.settings,
        now=now,
    )


async def digest(stack: Stack, now: dt.datetime) -> int:
    async with stack.service_app("market").state.sessionmaker() as session, session.begin():
        return await alerts.send_digests(session=session, now=now)


async def inbox(stack: Stack, actor: Actor, type: str | None = None) -> list[dict[str, Any]]:
    response = await stack.client.get("/market/notifications", params={"limit": "100"}, headers=actor.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return [n for n in items if type is None or n["type"] == type]


async def rows(stack: Stack, model: Any, *where: Any) -> list[Any]:
    async with stack.service_app("market").state.sessionmaker() as session:
        return list((await session.execute(sa.select(model).where(*where))).scalars())


async def deliver(stack: Stack) -> None:
    await stack.service_app("market").state.relay.drain()


async def patch_listing(stack: Stack, actor: Actor, kind: str, listing_id: str, values: dict[str, Any]) -> None:
    url = f"/market/{kind}/{listing_id}"
    etag = (await stack.client.get(url, headers=actor.headers)).headers["etag"]
    response = await stack.client.patch(url, json=values, headers={**actor.headers, "If-Match": etag})
    assert response.status_code == 200, response.text


class TestInstantAlerts:
    async def test_publish_alerts_a_matching_search_with_title_snippet_and_reasons(
        self, stack: Stack, actors: Actors
    ) -> None:
        company = await actors.org_member(kind="enterprise")
        saved = await save(stack, company, q="锂电池", technical_field="new_energy", trl_min=5)
        other = await save(stack, company, name="无人机", q="无人机")
        uni = await actors.org_member(kind="university")
        listing = await publish(stack, uni, "achievements", battery())
        assert await inbox(stack, company) == []  # off the request path: nothing until the loop runs

        assert await run(stack) == 1
        [alert] = await inbox(stack, company, "saved_search.match")
        assert (alert["subject_type"], alert["subject_id"]) == ("achievement", listing["id"])
        assert "锂电池" in alert["title"]
        data = alert["data"]
        assert (data["saved_search_id"], data["saved_search_name"]) == (saved["id"], "电池")
        assert (data["listing_kind"], data["listing_id"], data["title"]) == (
            "achievement",
            listing["id"],
            "一种锂电池极片缺陷在线检测装置",
        )
        assert "<em>" in data["snippet"]
        assert "锂电池" in data["matched_terms"]
        assert "标题含「锂电池」" in data["reasons"]
        assert "技术领域：新能源与高效节能" in data["reasons"]
        assert "技术就绪水平：6 级" in data["reasons"]
        state = (await stack.client.get(f"{URL}/{saved['id']}", headers=company.headers)).json()
        assert state["alerts_sent"] == 1
        assert state["last_alert_at"] is not None
        untouched = (await stack.client.get(f"{URL}/{other['id']}", headers=company.headers)).json()
        assert (untouched["alerts_sent"], untouched["last_alert_at"]) == (0, None)

    async def test_filters_that_fail_mean_no_alert(self, stack: Stack, actors: Actors) -> None:
        company = await actors.org_member(kind="enterprise")
        await save(stack, company, q="锂电池", trl_min=8)
        await save(stack, company, q="锂电池", technical_field="agriculture")
        await save(stack, company, q="锂电池", price_max_fen=1_000_000)
        await save(stack, company, q="锂电池 无人机", matching="all")
        await save(stack, company, kind="demand", q="锂电池")
        uni = await actors.org_member(kind="university")
        await publish(stack, uni, "achievements", battery())
        assert await run(stack) == 1
        assert await inbox(stack, company) == []
        assert await rows(stack, SavedSearchHit) == []

    async def test_same_listing_never_alerts_twice(self, stack: Stack, actors: Actors) -> None:
        company = await actors.org_member(kind="enterprise")
        await save(stack, company, q="锂电池")
        uni = await actors.org_member(kind="university")
        listing = await publish(stack, uni, "achievements", battery())
        await run(stack)
        # Materially changed twice while published: two more jobs, still one alert.
        await patch_listing(
            stack, uni, "achievements", listing["id"], {"title": "一种锂电池极片缺陷检测装置（改进型）"}
        )
        await patch_listing(stack, uni, "achievements", listing["id"], {"trl": 7})
        assert await run(stack) == 2
        assert len(await inbox(stack, company, "saved_search.match")) == 1
        # A job run again (a crashed worker's retry) records nothing new.
        async with stack.service_app("market").state.sessionmaker() as session, session.begin():
            await session.execute(sa.update(MatchAlertJob).values(done_at=None))
        assert await run(stack) == 3
        assert len(await inbox(stack, company, "saved_search.match")) == 1
        assert len(await rows(stack, SavedSearchHit)) == 1

    async def test_immaterial_change_enqueues_nothing(self, stack: Stack, actors: Actors) -> None:
        uni = await actors.org_member(kind="university")
        listing = await publish(stack, uni, "achievements", battery())
        await patch_listing(
            stack, uni, "achievements", listing["id"], {"contact": {"name": "张老师", "phone": "028-1"}}
        )
        jobs = await rows(stack, MatchAlertJob)
        assert len(jobs) == 1  # the publication only
        assert jobs[0].listing_version == listing["version"]

    async def test_own_organization_and_inactive_searches_are_silent(self, stack: Stack, actors: Actors) -> None:
        uni = await actors.org_member(kind="university")
        colleague = await actors.colleague(uni)
        await save(stack, colleague, q="锂电池")
        company = await actors.org_member(kind="enterprise")
        paused = await save(stack, company, q="锂电池", active=False)
        await publish(stack, uni, "achievements", battery())
        await run(stack)
        assert await inbox(stack, colleague) == []
        assert await inbox(stack, company) == []
        assert (await stack.client.get(f"{URL}/{paused['id']}", headers=company.headers)).json()["alerts_sent"] == 0

    async def test_demand_searches_alert_on_demands(self, stack: Stack, actors: Actors) -> None:
        uni = await actors.org_member(kind="university")
        saved = await save(stack, uni, kind="demand", q="机器视觉", cooperation_mode="co_development")
        company = await actors.org_member(kind="enterprise")
        demand = await publish(stack, company, "demands", demand_body())
        await run(stack)
        [alert] = await inbox(stack, uni, "saved_search.match")
        assert (alert["subject_type"], alert["subject_id"]) == ("demand", demand["id"])
        assert alert["data"]["saved_search_id"] == saved["id"]
        assert "合作方式：合作开发" in alert["data"]["reasons"]

    async def test_withdrawn_before_the_job_ran_alerts_nobody(self, stack: Stack, actors: Actors) -> None:
        company = await actors.org_member(kind="enterprise")
        await save(stack, company, q="锂电池")
        uni = await actors.org_member(kind="university")
        listing = await publish(stack, uni, "achievements", battery())
        assert (await transition(stack, uni, "achievements", listing["id"], "withdraw")).status_code == 200
        assert await run(stack) == 0
        assert await inbox(stack, company) == []


class TestWebhookChannel:
    async def test_no_inbox_row_but_the_hit_is_recorded(self, stack: Stack, actors: Actors) -> None:
        company = await actors.org_member(kind="enterprise")
        saved = await save(stack, company, q="锂电池", channel="webhook")
        uni = await actors.org_member(kind="university")
        listing = await publish(stack, uni, "achievements", battery())
        await run(stack)
        assert await inbox(stack, company) == []
        [hit] = await rows(stack, SavedSearchHit)
        assert (str(hit.saved_search_id), str(hit.listing_id)) == (saved["id"], listing["id"])
        assert hit.notified_at is not None
        assert (await stack.client.get(f"{URL}/{saved['id']}", headers=company.headers)).json()["alerts_sent"] == 1


class TestDailyDigest:
    async def test_one_digest_at_nine_shanghai_then_nothing(self, stack: Stack, actors: Actors) -> None:
        company = await actors.org_member(kind="enterprise")
        saved = await save(stack, company, q="锂电池", frequency="daily")
        uni = await actors.org_member(kind="university")
        first = await publish(stack, uni, "achievements", battery())
        second = await publish(stack, uni, "achievements", battery(title="一种锂电池隔膜缺陷检测方法"))
        # Both hits recorded at 08:30 on day D (Beijing time), explicit instants throughout.
        day = today_in_china() + dt.timedelta(days=2)

        def at(hour: int, minute: int) -> dt.datetime:
            return beijing(day, hour, minute)

        assert await run(stack, now=at(8, 30)) == 2
        assert await inbox(stack, company) == []  # daily: nothing at once
        assert await digest(stack, at(8, 59)) == 0
        assert await inbox(stack, company) == []
        assert await digest(stack, at(9, 0)) == 1
        [sent] = await inbox(stack, company)
        assert (sent["type"], sent["subject_type"], sent["subject_id"]) == (
            "saved_search.digest",
            "saved_search",
            saved["id"],
        )
        assert sent["data"]["count"] == 2
        assert {item["listing_id"] for item in sent["data"]["items"]} == {first["id"], second["id"]}
        assert all(item["reasons"] and item["title"] for item in sent["data"]["items"])
        assert await digest(stack, at(9, 0)) == 0
        assert await digest(stack, at(15, 0)) == 0
        assert len(await inbox(stack, company)) == 1
        state = (await stack.client.get(f"{URL}/{saved['id']}", headers=company.headers)).json()
        assert state["alerts_sent"] == 2

    async def test_a_hit_after_nine_waits_for_the_next_morning(self, stack: Stack, actors: Actors) -> None:
        company = await actors.org_member(kind="enterprise")
        await save(stack, company, q="锂电池", frequency="daily")
        uni = await actors.org_member(kind="university")
        await publish(stack, uni, "achievements", battery())
        day = today_in_china() + dt.timedelta(days=2)
        at = beijing
        await run(stack, now=at(day, 9, 30))
        assert await digest(stack, at(day, 23, 59)) == 0
        next_day = day + dt.timedelta(days=1)
        assert await digest(stack, at(next_day, 8, 59)) == 0
        assert await digest(stack, at(next_day, 9, 1)) == 1


class TestDemandStandingSearch:
    async def test_open_demand_owner_is_told_once_and_may_switch_it_off(self, stack: Stack, actors: Actors) -> None:
        company = await actors.org_member(kind="enterprise", region_code="510104")
        demand = await publish(
            stack,
            company,
            "demands",
            demand_body(
                title="锂电池极片缺陷在线检测",
                technical_field="new_energy",
                keywords=["锂电池", "机器视觉"],
                desired_trl=6,
                cooperation_modes=["license"],
            ),
        )
        assert demand["match_alerts"] is True
        await deliver(stack)  # search knows the demand (the similarity call finds it)
        uni = await actors.org_member(kind="university", region_code="510107")
        achievement = await publish(stack, uni, "achievements", battery())
        await run(stack)
        [told] = await inbox(stack, company, "demand.match")
        assert (told["subject_type"], told["subject_id"]) == ("achievement", achievement["id"])
        assert told["data"]["demand_id"] == demand["id"]
        assert told["data"]["title"] == achievement["title"]
        assert told["data"]["reasons"]
        assert "<em>" in told["data"]["snippet"]
        assert told["data"]["score"] >= stack.service_app("market").state.settings.demand_match_min_score
        # Changed again: no second alert for the same pair.
        await patch_listing(stack, uni, "achievements", achievement["id"], {"trl": 7})
        await run(stack)
        assert len(await inbox(stack, company, "demand.match")) == 1
        # Switched off: a new matching achievement tells nobody.
        await patch_listing(stack, company, "demands", demand["id"], {"match_alerts": False})
        mine = await stack.client.get(f"/market/demands/{demand['id']}", headers=company.headers)
        assert mine.json()["match_alerts"] is False
        others = await stack.client.get(f"/market/demands/{demand['id']}", headers=uni.headers)
        assert others.json()["match_alerts"] is None  # the owner's setting is private
        await deliver(stack)
        await publish(stack, uni, "achievements", battery(title="一种锂电池极片瑕疵视觉检测系统"))
        await run(stack)
        assert len(await inbox(stack, company, "demand.match")) == 1

    async def test_own_organization_demand_is_not_told(self, stack: Stack, actors: Actors) -> None:
        # A research institute both posts demands and lists achievements: its own achievement is no news to it.
        institute = await actors.org_member(kind="research_institute")
        await publish(
            stack,
            institute,
            "demands",
            demand_body(title="锂电池极片缺陷在线检测", technical_field="new_energy", keywords=["锂电池", "机器视觉"]),
        )
        await deliver(stack)
        await publish(stack, institute, "achievements", battery())
        await run(stack)
        assert await inbox(stack, institute, "demand.match") == []


class TestOutage:
    async def test_search_unavailable_keeps_the_job_pending_with_backoff(self, stack: Stack, actors: Actors) -> None:
        company = await actors.org_member(kind="enterprise")
        await save(stack, company, q="锂电池")
        uni = await actors.org_member(kind="university")
        await publish(stack, uni, "achievements", battery())
        real = stack.service_app("market").state.search_client
        down = SearchClient(real.http, search_url="http://techmarket.internal/nothing-here", tokens=real.tokens)
        now = dt.datetime.now(dt.UTC)
        assert await run(stack, now=now, search=down) == 1
        [job] = await rows(stack, MatchAlertJob)
        assert (job.done_at, job.attempts) == (None, 1)
        assert job.next_attempt_at > now
        assert job.last_error
        assert await rows(stack, SavedSearchHit) == []
        # Not due yet: the next round does nothing, even with search back.
        assert await run(stack, now=now) == 0
        # Due again, search back: alerted.
        assert await run(stack, now=job.next_attempt_at) == 1
        assert len(await inbox(stack, company, "saved_search.match")) == 1
        [job] = await rows(stack, MatchAlertJob)
        assert job.done_at is not None
        assert job.attempts == 2


class TestConcurrentWorkers:
    async def test_two_claimers_never_alert_twice(self, stack: Stack, actors: Actors) -> None:
        if stack.backend != "postgresql":
            pytest.skip("row locks (FOR UPDATE SKIP LOCKED) are PostgreSQL's; SQLite has one writer at a time")
        companies = [await actors.org_member(kind="enterprise") for _ in range(3)]
        for company in companies:
            await save(stack, company, q="锂电池")
        uni = await actors.org_member(kind="university")
        listings = [
            await publish(stack, uni, "achievements", battery(title=f"一种锂电池极片缺陷检测装置{i}")) for i in range(4)
        ]
        # Every job twice: a second copy of each (as if the listing had been enqueued again).
        async with stack.service_app("market").state.sessionmaker() as session, session.begin():
            for job in await session.execute(sa.select(MatchAlertJob)):
                original = job[0]
                session.add(
                    MatchAlertJob(
                        listing_kind=original.listing_kind,
                        listing_id=original.listing_id,
                        listing_version=original.listing_version,
                        owner_org_id=original.owner_org_id,
                        document=original.document,
                        created_at=original.created_at,
                        next_attempt_at=original.next_attempt_at,
                    )
                )
        ran = await asyncio.gather(run(stack), run(stack))
        assert sum(ran) == 8
        for company in companies:
            alerts_of = await inbox(stack, company, "saved_search.match")
            assert sorted(a["subject_id"] for a in alerts_of) == sorted(item["id"] for item in listings)
        assert len(await rows(stack, SavedSearchHit)) == 12
        searches = await rows(stack, SavedSearch)
        assert [s.alerts_sent for s in searches] == [4, 4, 4]
