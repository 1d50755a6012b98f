"""Statistics targets as data (/market/stats/targets): the seed, CRUD, validation, who may write, pagination, and the
progress reported by /market/stats/cumulative and /public — exact to the fen against sums computed here."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.market.directory import service as directory_service
from services.market.stats.schemas import CumulativePublic, HeadlineStatsPublic
from services.market.stats.targets.models import targets_table
from services.market.stats.targets.service import SEED_CONTRACT_AMOUNT_ID, SEED_DEMONSTRATION_ID
from shared.clock import today_in_china
from tests.conftest import Stack
from tests.market.contracts.factories import ensure_office, register, registrar, submit
from tests.market.contracts.test_import import import_row, post_import, to_csv
from tests.market.helpers import migrate_market
from tests.support.actors import Actor, Actors
from tests.support.problems import assert_problem, error_fields

URL = "/market/stats/targets"
PROGRESS_KEYS = [
    "id",
    "name",
    "metric",
    "region",
    "organization_id",
    "period_from",
    "period_to",
    "value",
    "value_display",
    "achieved",
    "share",
    "days_left",
    "status",
    "source",
]

# registered_on, seller region, contract fen, technology fen — sellers in Chengdu, Mianyang, Chongqing, Hangzhou.
ROWS = [
    ("2021-03-05", "510104", 100_00, 90_00),
    ("2021-03-20", "510107", 250_01, 250_01),
    ("2022-07-01", "510703", 1_000_03, 800_00),
    ("2023-06-15", "500103", 40_07, 40_00),
    ("2023-06-30", "330106", 7_00, 3_00),
    ("2025-12-31", "510104", 12_345_67, 12_000_00),
    ("2026-02-01", "510104", 3_333_33, 3_000_00),
    ("2026-06-15", "500112", 7_777_77, 7_000_01),
    ("2026-11-02", "510703", 99, 98),
]


def target_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "成都市技术合同成交额目标",
        "metric": "contract_amount",
        "period_from": "2021-01-01",
        "period_to": "2025-12-31",
        "region": "510100",
        "value": 1_000_000_00,
        "source": "测试文件 第一条",
    }
    body.update(overrides)
    return body


def expected(metric: str, prefixes: tuple[str, ...] | None, first: str, last: str) -> int:
    """The metric over ROWS, computed independently of the server: sellers by region prefix, days inclusive."""
    last = min(last, today_in_china().isoformat())
    picked = [
        r for r in ROWS if first <= r[0] <= last and (prefixes is None or any(r[1].startswith(p) for p in prefixes))
    ]
    if metric == "contract_amount":
        return sum(r[2] for r in picked)
    if metric == "technology_amount":
        return sum(r[3] for r in picked)
    return len(picked)


def truncated_share(achieved: int, value: int) -> str:
    """achieved / value with 6 decimal places, cut (not rounded): long division on integers."""
    whole, rest = divmod(achieved * 10**6 // value, 10**6)
    return f"{whole}.{rest:06d}"


@pytest.fixture
async def office(stack: Stack, actors: Actors) -> Actor:
    reg = await registrar(actors, region_code="510000")
    await ensure_office(stack, reg)
    rows = [
        import_row(
            registered_on=day,
            signed_on=day,
            seller_region_code=seller,
            contract_amount_fen=str(amount),
            technology_amount_fen=str(technology),
            valid_from="",
            valid_to="",
        )
        for day, seller, amount, technology in ROWS
    ]
    response = await post_import(stack, reg, to_csv(rows))
    assert response.json()["imported"] == len(ROWS), response.text
    return reg


@pytest.fixture
async def admin(actors: Actors) -> Actor:
    return await actors.platform_admin()


@pytest.fixture
async def center(actors: Actors) -> Actor:
    return await actors.org_member(kind="center", roles=("statistician",))


async def create(stack: Stack, who: Actor, **overrides: Any) -> dict[str, Any]:
    response = await stack.client.post(URL, json=target_body(**overrides), headers=who.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def public_targets(stack: Stack) -> dict[str, dict[str, Any]]:
    response = await stack.client.get("/market/stats/public")
    assert response.status_code == 200, response.text
    body = response.json()
    assert HeadlineStatsPublic.model_validate(body).model_dump(mode="json") == body
    for item in body["targets"]:
        assert list(item) == PROGRESS_KEYS  # the shape the dashboard reads
    return {t["id"]: t for t in body["targets"]}


async def cumulative_targets(stack: Stack, who: Actor, query: str = "") -> dict[str, dict[str, Any]]:
    response = await stack.client.get(f"/market/stats/cumulative?{query}", headers=who.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    CumulativePublic.model_validate(body)
    return {t["id"]: t for t in body["targets"]}


async def count_rows(engine: AsyncEngine, table: str, where: str = "") -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(sa.text(f"SELECT count(*) FROM {table} {where}"))).scalar_one())


def market_engine(stack: Stack) -> AsyncEngine:
    engine: AsyncEngine = stack.service_app("market").state.engine
    return engine


class TestSeed:
    async def test_seed_is_there_once_after_two_startups(self, empty_engine: AsyncEngine) -> None:
        # Market migrates at every start: the second upgrade finds the head and seeds nothing again.
        await migrate_market(empty_engine, "upgrade", "heads")
        await migrate_market(empty_engine, "upgrade", "heads")
        async with empty_engine.connect() as connection:
            rows = (
                await connection.execute(
                    sa.text(
                        "SELECT id, metric, period_from, period_to, region, organization_id, value, source, version "
                        "FROM stats_targets ORDER BY id"
                    )
                )
            ).all()
        assert [(uuid.UUID(str(r[0])), r[1], str(r[2]), str(r[3]), r[4], r[5], r[6], r[8]) for r in rows] == [
            (SEED_CONTRACT_AMOUNT_ID, "contract_amount", "2021-01-01", "2025-12-31", "510000", None,
             60_000_000_000_000, 1),
            (SEED_DEMONSTRATION_ID, "demonstration_institutions", "2021-01-01", "2025-12-31", "510000", None, 100, 1),
        ]  # fmt: skip
        assert all("1+4+N" in r[7] for r in rows)
        # Down and up again: the table comes back with the seed, once.
        await migrate_market(empty_engine, "downgrade", "market_0011")
        await migrate_market(empty_engine, "upgrade", "heads")
        assert await count_rows(empty_engine, "stats_targets") == 2

    async def test_seed_is_served(self, stack: Stack) -> None:
        response = await stack.client.get(URL)
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        assert [i["id"] for i in items] == [str(SEED_CONTRACT_AMOUNT_ID), str(SEED_DEMONSTRATION_ID)]
        assert [(i["value"], i["value_display"], i["created_by"]) for i in items] == [
            (60_000_000_000_000, "6000亿元", "system"),
            (100, "100", "system"),
        ]
        one = await stack.client.get(f"{URL}/{SEED_CONTRACT_AMOUNT_ID}")
        assert one.headers["etag"] == '"v1"'
        assert one.json() == items[0]


class TestWrite:
    async def test_create_read_update_with_if_match_audited(self, stack: Stack, admin: Actor) -> None:
        response = await stack.client.post(URL, json=target_body(region="川渝"), headers=admin.headers)
        assert response.status_code == 201, response.text
        created = response.json()
        assert response.headers["etag"] == '"v1"'
        assert response.headers["location"] == f"{URL}/{created['id']}"
        assert (created["region"], created["value_display"], created["created_by"]) == (
            "川渝",
            "100万元",
            admin.subject,
        )
        read = await stack.client.get(f"{URL}/{created['id']}")
        assert read.json() == created
        target = f"{URL}/{created['id']}"
        assert_problem(await stack.client.patch(target, json={"value": 5}, headers=admin.headers), 428)
        stale = {**admin.headers, "If-Match": '"v9"'}
        assert_problem(await stack.client.patch(target, json={"value": 5}, headers=stale), 412)
        changed = await stack.client.patch(
            target,
            json={"value": 2_000_000_000_000, "region": None, "name": "  全域目标 "},
            headers={**admin.headers, "If-Match": '"v1"'},
        )
        assert changed.status_code == 200, changed.text
        body = changed.json()
        assert changed.headers["etag"] == '"v2"'
        assert (body["version"], body["value"], body["value_display"], body["region"], body["name"]) == (
            2,
            2_000_000_000_000,
            "200亿元",
            None,
            "全域目标",
        )
        engine = market_engine(stack)
        audited = await count_rows(engine, "market_audit_events", "WHERE entity_kind = 'stats_target'")
        assert audited == 2

    async def test_center_statisticians_write_others_may_not(self, stack: Stack, actors: Actors, center: Actor) -> None:
        created = await create(stack, center)
        target = f"{URL}/{created['id']}"
        sub_center = await actors.org_member(kind="sub_center", roles=("statistician",), parent=center)
        member = await actors.org_member(kind="university")
        reg = await registrar(actors)
        for who in (sub_center, member, reg):
            assert_problem(await stack.client.post(URL, json=target_body(), headers=who.headers), 403)
            headers = {**who.headers, "If-Match": '"v1"'}
            assert_problem(await stack.client.patch(target, json={"value": 1}, headers=headers), 403)
        assert_problem(await stack.client.post(URL, json=target_body()), 401)
        assert_problem(await stack.client.patch(target, json={"value": 1}, headers={"If-Match": '"v1"'}), 401)
        # Reading needs no token.
        assert (await stack.client.get(target)).status_code == 200
        assert (await stack.client.get(URL)).status_code == 200
        assert_problem(await stack.client.get(f"{URL}/{uuid.uuid4()}"), 404)
        assert_problem(
            await stack.client.patch(
                f"{URL}/{uuid.uuid4()}", json={"value": 1}, headers={**center.headers, "If-Match": '"v1"'}
            ),
            404,
        )

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"name": ""}, "name"),
            ({"name": "长" * 201}, "name"),
            ({"name": "a\x00b"}, "name"),
            ({"metric": "patents"}, "metric"),
            ({"period_from": "2025-13-01"}, "period_from"),
            ({"period_from": 0}, "period_from"),
            ({"period_from": "2026-01-01", "period_to": "2025-12-31"}, "period_to"),
            ({"region": "99"}, "region"),
            ({"region": "990000"}, "region"),
            ({"region": "川"}, "region"),
            ({"organization_id": str(uuid.uuid4())}, "organization_id"),
            ({"organization_id": "nope"}, "organization_id"),
            ({"value": 0}, "value"),
            ({"value": -5}, "value"),
            ({"value": "100"}, "value"),
            ({"value": 1.5}, "value"),
            ({"source": ""}, "source"),
            ({"source": None}, "source"),
            ({"colour": "red"}, "colour"),
        ],
    )
    async def test_bad_bodies_are_422_naming_the_field_and_store_nothing(
        self, stack: Stack, admin: Actor, overrides: dict[str, Any], field: str
    ) -> None:
        response = await stack.client.post(URL, json=target_body(**overrides), headers=admin.headers)
        assert field in error_fields(assert_problem(response, 422)), response.text
        assert await count_rows(market_engine(stack), "stats_targets") == 2
        assert await count_rows(market_engine(stack), "market_audit_events") == 0

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"period_to": "2020-12-31"}, "period_to"),
            ({"period_from": "2026-01-01"}, "period_to"),
            ({"name": None}, "name"),
            ({"value": None}, "value"),
            ({"metric": None}, "metric"),
            ({"region": "000000"}, "region"),
            ({"organization_id": str(uuid.uuid4())}, "organization_id"),
            ({"version": 7}, "version"),
        ],
    )
    async def test_bad_patches_are_422_and_change_nothing(
        self, stack: Stack, admin: Actor, change: dict[str, Any], field: str
    ) -> None:
        target = f"{URL}/{SEED_CONTRACT_AMOUNT_ID}"
        before = (await stack.client.get(target)).json()
        response = await stack.client.patch(target, json=change, headers={**admin.headers, "If-Match": '"v1"'})
        assert field in error_fields(assert_problem(response, 422)), response.text
        assert (await stack.client.get(target)).json() == before

    async def test_organization_scope_must_be_in_the_directory(
        self, stack: Stack, admin: Actor, actors: Actors
    ) -> None:
        institution = await actors.org_member(kind="transfer_institution")
        created = await create(stack, admin, organization_id=str(institution.org_id), region=None)
        assert created["organization_id"] == str(institution.org_id)


class TestList:
    async def test_pages_and_filters(self, stack: Stack, admin: Actor) -> None:
        made = [
            await create(stack, admin, metric="contract_count", value=10, period_from="2026-01-01", period_to="2026-12-31"),
            await create(stack, admin, metric="technology_amount", period_from="2027-01-01", period_to="2027-12-31"),
            await create(stack, admin, metric="contract_count", value=5, period_from="2024-06-01", period_to="2026-06-30"),
        ]  # fmt: skip
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
            page = (await stack.client.get(f"{URL}?{query}")).json()
            seen += [i["id"] for i in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert pages == 3
        assert seen == [str(SEED_CONTRACT_AMOUNT_ID), str(SEED_DEMONSTRATION_ID), *(m["id"] for m in made)]
        counts = (await stack.client.get(f"{URL}?metric=contract_count")).json()["items"]
        assert [i["id"] for i in counts] == [made[0]["id"], made[2]["id"]]
        active = (await stack.client.get(f"{URL}?active_on=2026-06-30")).json()["items"]
        assert [i["id"] for i in active] == [made[0]["id"], made[2]["id"]]
        active = (await stack.client.get(f"{URL}?active_on=2025-12-31&metric=contract_amount")).json()["items"]
        assert [i["id"] for i in active] == [str(SEED_CONTRACT_AMOUNT_ID)]

    @pytest.mark.parametrize(
        ("query", "field"),
        [("metric=patents", "metric"), ("active_on=2026-02-30", "active_on"), ("cursor=@@", "cursor"),
         ("cursor=WyJ4Il0", "cursor"), ("limit=0", "limit"), ("limit=101", "limit")],
    )  # fmt: skip
    async def test_bad_queries_are_422(self, stack: Stack, query: str, field: str) -> None:
        assert field in error_fields(assert_problem(await stack.client.get(f"{URL}?{query}"), 422))


class TestProgress:
    async def test_contract_metrics_are_exact_to_the_fen(
        self, stack: Stack, admin: Actor, office: Actor, center: Actor
    ) -> None:
        cases = [
            # metric, region, seller prefixes, from, to (edges mid-month: the ledger's edge days)
            ("contract_amount", "510100", ("5101",), "2021-03-10", "2025-12-31"),
            ("technology_amount", "川渝", ("51", "50"), "2021-01-01", "2026-12-31"),
            ("contract_count", "510104", ("510104",), "2021-03-01", "2026-02-01"),
            ("contract_amount", None, None, "2021-03-20", "2026-11-02"),
            ("technology_amount", "500000", ("50",), "2023-06-15", "2026-06-14"),
            ("contract_count", "510700", ("5107",), "2022-07-01", "2022-07-01"),
        ]
        made = {}
        for metric, region, prefixes, first, last in cases:
            created = await create(
                stack, admin, metric=metric, region=region, period_from=first, period_to=last, value=7
            )
            made[created["id"]] = expected(metric, prefixes, first, last)
        public = await public_targets(stack)
        cumulative = await cumulative_targets(stack, center, "since=2021-01-01")
        today = today_in_china()
        for target_id, achieved in made.items():
            assert achieved > 0
            for answer in (public, cumulative):
                item = answer[target_id]
                assert item["achieved"] == achieved, item
                assert item["share"] == truncated_share(achieved, 7)
                ended = dt.date.fromisoformat(item["period_to"]) < today
                assert item["status"] == ("ended" if ended else "running")
        # The seeded headline target counts sellers in Sichuan 2021..2025, and the legacy field agrees.
        seeded = public[str(SEED_CONTRACT_AMOUNT_ID)]
        in_sichuan = expected("contract_amount", ("51",), "2021-01-01", "2025-12-31")
        assert (seeded["achieved"], seeded["status"], seeded["days_left"]) == (in_sichuan, "ended", 0)
        assert seeded["value_display"] == "6000亿元"
        body = (await stack.client.get("/market/stats/public")).json()
        assert body["target"]["achieved_fen"] == in_sichuan
        assert body["target"]["contract_amount_fen"] == 60_000_000_000_000

    async def test_shares_are_truncated_ratios(self, stack: Stack, admin: Actor, office: Actor) -> None:
        achieved = expected("contract_amount", ("5101",), "2021-01-01", "2025-12-31")  # 12_695_68
        created = await create(stack, admin, value=3 * achieved + 1)
        item = (await public_targets(stack))[created["id"]]
        # achieved / (3·achieved + 1) = 0.33333330…: truncated, never rounded up.
        assert item["share"] == "0.333333"
        done = await create(stack, admin, value=achieved)
        assert (await public_targets(stack))[done["id"]]["share"] == "1.000000"

    async def test_periods_without_data_show_zero_and_their_status(
        self, stack: Stack, admin: Actor, office: Actor
    ) -> None:
        today = today_in_china()
        future = await create(stack, admin, period_from="2030-01-01", period_to="2030-12-31")
        running = await create(
            stack,
            admin,
            region="540000",
            period_from=(today - dt.timedelta(days=30)).isoformat(),
            period_to=(today + dt.timedelta(days=9)).isoformat(),
        )
        past = await create(stack, admin, period_from="2019-01-01", period_to="2019-12-31", metric="contract_count")
        targets = await public_targets(stack)
        assert {k: targets[future["id"]][k] for k in ("achieved", "share", "status", "days_left")} == {
            "achieved": 0,
            "share": "0.000000",
            "status": "not_started",
            "days_left": 365,
        }
        assert {k: targets[running["id"]][k] for k in ("achieved", "status", "days_left")} == {
            "achieved": 0,
            "status": "running",
            "days_left": 10,
        }
        assert {k: targets[past["id"]][k] for k in ("achieved", "status", "days_left")} == {
            "achieved": 0,
            "status": "ended",
            "days_left": 0,
        }

    async def test_contracts_of_2026_show_progress_once_a_2026_target_exists(
        self, stack: Stack, admin: Actor, office: Actor, center: Actor
    ) -> None:
        # The issue's case: the seeded period has ended, so 2026's contracts count toward nothing …
        before = await cumulative_targets(stack, center, "since=2026-01-01")
        assert list(before) == []
        assert (await public_targets(stack))[str(SEED_CONTRACT_AMOUNT_ID)]["status"] == "ended"
        # … until an admin enters the next target.
        created = await create(
            stack,
            admin,
            name="2026年四川省技术合同成交额",
            region="510000",
            period_from="2026-01-01",
            period_to="2026-12-31",
            value=1_500_000_000_000_00,
        )
        achieved = expected("contract_amount", ("51",), "2026-01-01", "2026-12-31")
        assert achieved == 3_333_33 + 99
        for answer in (await public_targets(stack), await cumulative_targets(stack, center, "since=2026-01-01")):
            item = answer[created["id"]]
            assert (item["achieved"], item["status"], item["value_display"]) == (achieved, "running", "15000亿元")
            assert item["days_left"] == (dt.date(2026, 12, 31) - today_in_china()).days + 1
        # Cumulative lists the targets whose period meets the range asked.
        assert list(await cumulative_targets(stack, center, "since=2027-01-01&until=2027-12-31")) == []
        assert set(await cumulative_targets(stack, center, "since=2025-12-31&until=2026-01-01")) == {
            str(SEED_CONTRACT_AMOUNT_ID),
            str(SEED_DEMONSTRATION_ID),
            created["id"],
        }

    async def test_organization_subtrees_and_the_callers_scope(
        self, stack: Stack, actors: Actors, admin: Actor, center: Actor
    ) -> None:
        reg = await registrar(actors, region_code="510000")
        await ensure_office(stack, reg)
        sub_center = await actors.org_member(kind="sub_center", roles=("statistician",), parent=center)
        other_sub = await actors.org_member(kind="sub_center", roles=("statistician",), parent=center)
        broker = await actors.org_member(kind="transfer_institution", roles=("broker",), parent=sub_center)
        amounts = (1_234_56, 7_89)
        for amount in amounts:
            contract = await submit(
                stack, broker, submitted_as="broker", contract_amount_fen=amount, technology_amount_fen=amount
            )
            await register(stack, reg, contract["id"])
        unbrokered = await submit(stack, await actors.org_member(kind="university", roles=("member",)))
        await register(stack, reg, unbrokered["id"])
        today = today_in_china().isoformat()
        year = f"{today[:4]}-01-01"
        mine = await create(stack, admin, organization_id=str(sub_center.org_id), region=None, period_from=year,
                            period_to=f"{today[:4]}-12-31")  # fmt: skip
        theirs = await create(stack, admin, organization_id=str(other_sub.org_id), region=None, period_from=year,
                              period_to=f"{today[:4]}-12-31", metric="contract_count")  # fmt: skip
        public = await public_targets(stack)
        assert public[mine["id"]]["achieved"] == sum(amounts)
        assert public[theirs["id"]]["achieved"] == 0
        # A subtree statistician sees the targets of organizations inside its subtree only; the center all of them.
        assert list(await cumulative_targets(stack, sub_center, f"since={year}")) == [mine["id"]]
        assert list(await cumulative_targets(stack, other_sub, f"since={year}")) == [theirs["id"]]
        assert set(await cumulative_targets(stack, center, f"since={year}")) == {mine["id"], theirs["id"]}
        assert list(await cumulative_targets(stack, reg, f"since={year}")) == []

    async def test_headline_falls_back_to_the_settings_without_the_seeded_target(
        self, stack: Stack, office: Actor, center: Actor
    ) -> None:
        async with market_engine(stack).begin() as connection:
            await connection.execute(sa.delete(targets_table).where(targets_table.c.id == SEED_CONTRACT_AMOUNT_ID))
        market = stack.service_app("market")
        market.state.settings = market.state.settings.model_copy(
            update={"stats_target_fen": 100_000_00, "stats_target_until": dt.date(2022, 12, 31)}
        )
        body = (await stack.client.get("/market/stats/cumulative", headers=center.headers)).json()
        # The settings' target counts every seller (as before targets were data).
        everyone = expected("contract_amount", None, "2021-01-01", "2022-12-31")
        assert (body["target"]["until"], body["target"]["achieved_fen"]) == ("2022-12-31", everyone)
        assert body["target"]["progress"] == truncated_share(everyone, 100_000_00)
        assert str(SEED_CONTRACT_AMOUNT_ID) not in {t["id"] for t in body["targets"]}


class TestOrgMetrics:
    """The organization metrics are counted by the directory (services.market.directory.service), whose counting
    functions come with issue 16's directory part: these tests pass once those functions exist."""

    async def test_org_metric_progress_passes_scope_and_day_to_the_directory(
        self, stack: Stack, admin: Actor, actors: Actors, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        calls: list[tuple[str, dict[str, Any]]] = []

        def fake(name: str, result: int) -> Any:
            async def count(*, session: AsyncSession, **kwargs: Any) -> int:
                calls.append((name, kwargs))
                return result

            return count

        # raising=True: the real functions must exist for this test to run.
        monkeypatch.setattr(directory_service, "count_demonstration_institutions", fake("demo", 37))
        monkeypatch.setattr(directory_service, "count_certified_brokers", fake("brokers", 12))
        sub_center = await actors.org_member(kind="sub_center")
        brokers = await create(stack, admin, metric="certified_brokers", region="川渝", value=48,
                               organization_id=str(sub_center.org_id), period_from="2021-01-01",
                               period_to="2099-12-31")  # fmt: skip
        targets = await public_targets(stack)
        demo = targets[str(SEED_DEMONSTRATION_ID)]
        assert (demo["achieved"], demo["share"], demo["value_display"]) == (37, "0.370000", "100")
        assert (targets[brokers["id"]]["achieved"], targets[brokers["id"]]["share"]) == (12, "0.250000")
        assert sorted(calls, key=lambda c: c[0]) == [
            ("brokers", {"on": today_in_china(), "region_prefixes": ["51", "50"], "org_path": sub_center.org_path}),
            ("demo", {"on": dt.date(2025, 12, 31), "region_prefixes": ["51"], "org_path": None}),
        ]

    async def test_org_metric_progress_matches_the_directory_count(self, stack: Stack) -> None:
        async with AsyncSession(market_engine(stack)) as session:
            expected_count = await directory_service.count_demonstration_institutions(  # type: ignore[attr-defined,unused-ignore]
                session=session, on=dt.date(2025, 12, 31), region_prefixes=["51"], org_path=None
            )
        assert (await public_targets(stack))[str(SEED_DEMONSTRATION_ID)]["achieved"] == expected_count
