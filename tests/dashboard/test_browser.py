"""The /dashboard page in a real browser: Debian's headless chromium driven by Playwright, against `techmarket serve`.

Once on SQLite and once on PostgreSQL (when TEST_POSTGRES_URL is set): data is made through the public API (a
registration office imports historical contracts, brokers of two sub-centers submit contracts it registers), then
institutions are designated and brokers certified through auth's API and two targets added through market's, then
the page is loaded anonymously, at phone width, by a sub-center's statistician (their subtree only) and by the
center's statistician with a filter. Every headline number is read from the DOM's exact attributes (data-fen,
data-count, data-series) and compared with the API's answer for the same query. Screenshots go to artifacts/.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import secrets
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from shared.clock import today_in_china
from tests.conftest import BACKENDS, REPO_ROOT
from tests.market.contracts.factories import ensure_office, register, registrar, submit
from tests.market.contracts.test_import import import_row, to_csv
from tests.market.directory.factories import add_broker
from tests.support.actors import Actor
from tests.support.databases import postgres_url_from_env
from tests.support.live import LiveActors, LiveStack
from tests.support.server import RunningServer, running_server

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = REPO_ROOT / "artifacts"
T = TypeVar("T")
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1366, "height": 900}

# Skipped on a machine without chromium; in CI (.ci/run installs it) a missing browser fails instead.
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and os.environ.get("CI") != "true", reason=f"no chromium at {CHROMIUM} (.ci/run installs it)"
)

# Historical registrations (imported by the office): registered_on, seller region, buyer region, kind, subkind,
# field, contract fen, technology fen.
HISTORY = [
    (
        "2021-03-05",
        "510104",
        "500103",
        "development",
        "commissioned_development",
        "new_energy",
        120_000_000_00,
        90_000_000_00,
    ),
    ("2022-07-01", "510703", "330100", "license", "patent_license", "agriculture", 3_000_000_00, 2_400_000_00),
    ("2023-06-15", "510104", "US", "service", "technical_service", "new_energy", 45_678_90, 40_000_00),
    (
        "2024-01-20",
        "500103",
        "510104",
        "transfer",
        "patent_right_transfer",
        "new_materials",
        8_800_000_00,
        8_000_000_00,
    ),
    ("2025-12-31", "510107", "510107", "consulting", "technical_consulting", "urban_social", 12_345_67, 12_000_00),
]


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to the end in a thread of its own (Playwright's sync API keeps a loop in this one)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@dataclass
class World:
    server: RunningServer
    backend: str
    center: Actor
    sub_a: Actor  # statistician of sub-center A: its broker's two contracts only
    sub_a_password: str
    sub_a_email: str
    center_email: str
    center_password: str
    targets: list[str]  # ids of the targets the test created (this year's, next year's)


# Demonstration institutions the test designates (institution name → level, year) and certificates it gives:
# (institution name, last valid day relative to today in days); a negative one has expired and does not count.
DESIGNATIONS = {"四川某技术转移中心": ("national", 2022), "绵阳某技术转移中心": ("provincial", 2024)}
CERTIFICATES = (
    ("四川某技术转移中心", 400),
    ("四川某技术转移中心", 30),
    ("绵阳某技术转移中心", 0),
    ("绵阳某技术转移中心", -1),
)


async def _user_with_password(actors: LiveActors, of: Actor, roles: tuple[str, ...]) -> tuple[Actor, str, str]:
    """A new member of ``of``'s organization whose email and password the test knows (to sign in on the page)."""
    admin = await actors.platform_admin()
    email = f"stats-{secrets.token_hex(4)}@dashboard.test"
    password = f"dash-pass-{secrets.token_hex(6)}"
    response = await actors.client.post(
        f"/auth/organizations/{of.org_id}/members",
        json={"email": email, "name": "统计员", "password": password, "roles": list(roles)},
        headers=admin.headers,
    )
    assert response.status_code == 201, response.text
    token = await actors._login(email, password)
    return (
        Actor(
            token=token, subject=email, org_id=of.org_id, org_kind=of.org_kind, org_path=of.org_path, roles=list(roles)
        ),
        email,
        password,
    )


async def _designations_and_targets(
    client: httpx.AsyncClient, actors: LiveActors, brokers: dict[str, Actor]
) -> list[str]:
    """Designate the transfer institutions and certify brokers through auth's API, add this year's and next year's
    targets through market's; wait until market's directory counts them."""
    admin = await actors.platform_admin()
    today = today_in_china()
    for name, (level, year) in DESIGNATIONS.items():
        response = await client.put(
            f"/auth/organizations/{brokers[name].org_id}/designation",
            json={"level": level, "year": year},
            headers=admin.headers,
        )
        assert response.status_code == 200, response.text
    for name, days in CERTIFICATES:
        await add_broker(LiveStack(client), actors, brokers[name].org_id, valid_until=today + dt.timedelta(days=days))  # type: ignore[arg-type]
    created = []
    for body in (
        {
            "name": f"{today.year}年川渝技术合同成交额",
            "metric": "contract_amount",
            "region": "川渝",
            "period_from": f"{today.year}-01-01",
            "period_to": f"{today.year}-12-31",
            "value": 500_000_000_00,
            "source": "测试：年度工作要点",
        },
        {
            "name": f"{today.year + 1}年示范机构",
            "metric": "demonstration_institutions",
            "period_from": f"{today.year + 1}-01-01",
            "period_to": f"{today.year + 1}-12-31",
            "value": 120,
            "source": "测试：下一年度计划",
        },
    ):
        response = await client.post("/market/stats/targets", json=body, headers=admin.headers)
        assert response.status_code == 201, response.text
        created.append(response.json()["id"])
    expected = (len(DESIGNATIONS), sum(1 for _, days in CERTIFICATES if days >= 0))
    for _ in range(300):  # auth's feed carries designations and certificates to market's directory
        body = (await client.get("/market/stats/institutions")).json()
        if (body["demonstration_institutions"]["total"], body["certified_brokers"]["total"]) == expected:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"the directory never counted {expected}: {body}")
    return created


async def _populate(base_url: str) -> tuple[Actor, Actor, str, str, str, str, list[str]]:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        stack: Any = LiveStack(client)
        actors = LiveActors(client)
        office = await registrar(actors, region_code="510000")
        chongqing_office = await registrar(actors, region_code="500000")
        await ensure_office(stack, office)
        await ensure_office(stack, chongqing_office)
        for by, rows in ((office, HISTORY[:3] + HISTORY[4:]), (chongqing_office, HISTORY[3:4])):
            body = to_csv(
                [
                    import_row(
                        registered_on=day,
                        signed_on=day,
                        seller_region_code=seller,
                        buyer_region_code=buyer,
                        buyer_credit_code="" if len(buyer) == 2 else import_row()["buyer_credit_code"],
                        buyer_ownership="foreign_invested" if len(buyer) == 2 else "private",
                        kind=kind,
                        subkind=subkind,
                        technical_field=field,
                        contract_amount_fen=str(amount),
                        technology_amount_fen=str(technology),
                        valid_from="",
                        valid_to="",
                    )
                    for day, seller, buyer, kind, subkind, field, amount, technology in rows
                ]
            )
            response = await client.post(
                "/market/contracts/import", content=body, headers={**by.headers, "Content-Type": "text/csv"}
            )
            assert response.status_code == 200, response.text
            assert response.json()["imported"] == len(rows), response.text
        center = await actors.org_member(kind="center", roles=("statistician",))
        sub_a = await actors.org_member(kind="sub_center", roles=("statistician",), parent=center, name="成都分中心")
        sub_b = await actors.org_member(kind="sub_center", roles=("statistician",), parent=center, name="绵阳分中心")
        brokers: dict[str, Actor] = {}
        for sub, name, amounts in (
            (sub_a, "四川某技术转移中心", (30_000_000_00, 15_000_000_00)),
            (sub_b, "绵阳某技术转移中心", (7_000_000_00,)),
        ):
            broker = await actors.org_member(kind="transfer_institution", roles=("broker",), parent=sub, name=name)
            brokers[name] = broker
            for i, amount in enumerate(amounts):
                contract = await submit(
                    stack,
                    broker,
                    submitted_as="broker",
                    contract_amount_fen=amount,
                    technology_amount_fen=amount // 2,
                    technical_field=("electronic_information", "advanced_manufacturing")[i % 2],
                )
                await register(stack, office, contract["id"])
        targets = await _designations_and_targets(client, actors, brokers)
        center_user, center_email, center_password = await _user_with_password(actors, center, ("statistician",))
        sub_user, sub_email, sub_password = await _user_with_password(actors, sub_a, ("statistician",))
        # Registered contracts reach the statistics through the background fold: wait until all are counted.
        for _ in range(300):
            total = (await client.get("/market/stats/cumulative", headers=center_user.headers)).json()["count"]
            if total == len(HISTORY) + 3:
                break
            await asyncio.sleep(0.1)
        return center_user, sub_user, center_email, center_password, sub_email, sub_password, targets


async def _create_databases(server_url: str, prefix: str) -> dict[str, str]:
    url = make_url(server_url)
    admin = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        out = {}
        for service in ("auth", "market", "search"):
            name = f"{prefix}_{service}"
            await admin.execute(f'CREATE DATABASE "{name}"')
            out[f"{service.upper()}_DATABASE_URL"] = url.set(database=name).render_as_string(hide_password=False)
        return out
    finally:
        await admin.close()


async def _drop_databases(server_url: str, prefix: str) -> None:
    url = make_url(server_url)
    admin = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        for service in ("auth", "market", "search"):
            await admin.execute(f'DROP DATABASE IF EXISTS "{prefix}_{service}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    backend: str = request.param
    settings: dict[str, str] = {}
    prefix = f"tmt_dashboard_{secrets.token_hex(4)}"
    pg_url = postgres_url_from_env()
    if backend == "postgresql":
        if pg_url is None:
            if os.environ.get("REQUIRE_POSTGRES") == "1":
                pytest.fail("REQUIRE_POSTGRES=1 but TEST_POSTGRES_URL is not set")
            pytest.skip("PostgreSQL run skipped: TEST_POSTGRES_URL is not set")
        settings = _run(_create_databases(pg_url, prefix))
    try:
        with running_server(tmp_path_factory.mktemp(f"dashboard-{backend}"), settings=settings) as server:
            center, sub_a, center_email, center_password, sub_email, sub_password, targets = _run(
                _populate(server.base_url)
            )
            yield World(server, backend, center, sub_a, sub_password, sub_email, center_email, center_password, targets)
    finally:
        if backend == "postgresql" and pg_url is not None:
            _run(_drop_databases(pg_url, prefix))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[*args, "--disable-gpu"])
        yield launched
        launched.close()


class Watched:
    """A page with its console errors, page errors, failed requests and >= 400 answers recorded."""

    def __init__(self, browser: Any, base_url: str, viewport: dict[str, int]) -> None:
        self.context = browser.new_context(base_url=base_url, viewport=viewport, locale="zh-CN", accept_downloads=True)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url} {r.failure}"))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("response", lambda r: r.status >= 400 and self.problems.append(f"{r.status}: {r.url}"))

    def open(self) -> Any:
        self.page.goto("/dashboard")
        self.wait_renders(1)
        return self.page

    def wait_renders(self, n: int) -> None:
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            self.page.wait_for_function(
                "n => document.body.dataset.ready !== '0' && Number(document.body.dataset.renders) >= n", arg=n
            )
        except PlaywrightTimeout:
            state = self.page.evaluate(
                "() => ({...document.body.dataset, notice: document.getElementById('notice').textContent})"
            )
            raise AssertionError(f"not ready: {state}; problems: {self.problems}") from None
        assert self.page.evaluate("document.body.dataset.ready") == "1", self.page.inner_text("#notice")

    def attr(self, selector: str, name: str) -> str:
        value = self.page.get_attribute(selector, name)
        assert value is not None, f"{selector} has no {name}"
        return value

    def series(self, chart: str) -> list[list[Any]]:
        result: list[list[Any]] = json.loads(self.attr(f"#{chart}", "data-series"))
        return result

    def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / name), full_page=True)

    def close(self) -> None:
        self.context.close()


def _api(world: World, path: str, who: Actor | None = None) -> Any:
    headers = who.headers if who is not None else {}
    response = httpx.get(world.server.base_url + path, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def _assert_headline(watched: Watched, body: dict[str, Any]) -> None:
    total = body["total"]
    assert int(watched.attr("#total-contract", "data-fen")) == total["contract_amount_fen"]
    assert int(watched.attr("#total-technology", "data-fen")) == total["technology_amount_fen"]
    assert int(watched.attr("#total-count", "data-count")) == total["count"]


def _rows(body: dict[str, Any], dim: str) -> dict[str, tuple[int, int, int]]:
    return {
        ",".join(str(v) for v in r["key"].values()) if "," in dim else str(r["key"][dim]): (
            r["contract_amount_fen"],
            r["technology_amount_fen"],
            r["count"],
        )
        for r in body["rows"]
    }


def _chart(watched: Watched, chart: str) -> dict[str, tuple[int, int, int]]:
    return {str(key): (contract, technology, count) for key, contract, technology, count in watched.series(chart)}


def _assert_targets(watched: Watched, targets: list[dict[str, Any]], world: World, *, public: bool = True) -> None:
    """Each target card shows the API's achieved, share, days left and status, in the API's order."""
    cards = watched.page.query_selector_all("#targets .target")
    assert [c.get_attribute("data-target-id") for c in cards] == [t["id"] for t in targets]
    for card, target in zip(cards, targets, strict=True):
        achieved = card.query_selector(".achieved")
        assert achieved is not None
        unit = "data-fen" if target["metric"] in ("contract_amount", "technology_amount") else "data-count"
        assert int(achieved.get_attribute(unit) or -1) == target["achieved"], target
        assert card.get_attribute("data-share") == target["share"]
        assert int(card.get_attribute("data-days-left") or -1) == target["days_left"]
        assert card.get_attribute("data-status") == target["status"]
        whole, frac = target["share"].split(".")
        percent = f"{int(whole) * 100 + int(frac[:2])}.{frac[2:4]}%"
        text = card.inner_text()
        assert f"完成 {percent}" in text, text
        status = {"not_started": "目标期尚未开始", "ended": "目标期已结束"}.get(
            target["status"], f"距目标期结束还有 {target['days_left']} 天"
        )
        assert status in text, text
    if not public:
        return
    # The seeded 2021–2025 targets have ended, this year's runs, next year's has not started.
    statuses = {t["id"]: t["status"] for t in targets}
    assert [statuses[i] for i in world.targets] == ["running", "not_started"]
    assert {t["status"] for t in targets} == {"ended", "running", "not_started"}


def _assert_institutions(watched: Watched, body: dict[str, Any]) -> None:
    """Demonstration institutions (total, by level) and certified brokers (total, by sub-center) equal the API's."""
    demo = body["demonstration_institutions"]
    assert (demo["total"], demo["by_level"]) == (2, {"national": 1, "provincial": 1})
    assert int(watched.attr("#demo-total", "data-count")) == demo["total"]
    for level in ("national", "provincial"):
        assert int(watched.attr(f"#demo-{level}", "data-count")) == demo["by_level"][level]
    assert watched.series("chart-demo")[1:] == [["national", 1], ["provincial", 1]]
    # Against the seeded 2021–2025 target of 100 (next year's 120 has not started).
    assert watched.series("chart-demo")[0] == ["total", demo["total"], 100]
    assert int(watched.attr("#demo-title", "data-count")) == 100
    brokers = body["certified_brokers"]
    assert brokers["total"] == 3
    assert int(watched.attr("#brokers-total", "data-count")) == brokers["total"]
    assert watched.series("chart-brokers") == [
        [
            r["sub_center"]["id"] if r["sub_center"] else "",
            r["sub_center"]["name"] if r["sub_center"] else "中心直属",
            r["count"],
        ]
        for r in brokers["by_sub_center"]
    ]
    assert [(name, count) for _, name, count in watched.series("chart-brokers")] == [
        ("成都分中心", 2),
        ("绵阳分中心", 1),
    ]


class TestDashboard:
    def test_anonymous_page_equals_the_api(self, world: World, browser: Any) -> None:
        watched = Watched(browser, world.server.base_url, DESKTOP)
        try:
            page = watched.open()
            cumulative = _api(world, "/market/stats/cumulative")
            since = cumulative["since"]
            yearly = _api(world, f"/market/stats/contracts?from={since}&group_by=year")
            _assert_headline(watched, yearly)
            # The default period is the target's (since 2021-01-01): the cumulative answer is the same sum.
            assert yearly["total"]["contract_amount_fen"] == cumulative["contract_amount_fen"]
            assert yearly["total"]["count"] == len(HISTORY) + 3
            assert _chart(watched, "chart-yearly") == _rows(yearly, "year")
            for chart, dim in (
                ("chart-field", "technical_field"),
                ("chart-kind", "kind"),
                ("chart-city", "seller_city"),
            ):
                assert _chart(watched, chart) == _rows(
                    _api(world, f"/market/stats/contracts?from={since}&group_by={dim}"), dim
                ), chart
            flows = _api(world, f"/market/stats/contracts?from={since}&group_by=seller_province,flow")
            shown = {k.replace(">", ","): v for k, v in _chart(watched, "chart-flow").items()}
            assert shown == {k: v for k, v in _rows(flows, "seller_province,flow").items() if v[0] > 0}
            assert {"510000,to_chongqing", "500000,to_sichuan", "510000,abroad"} <= set(shown)
            # Every target with its progress, as the public headline gives it.
            _assert_targets(watched, _api(world, "/market/stats/public")["targets"], world)
            _assert_institutions(watched, _api(world, "/market/stats/institutions"))
            # Top institutions by brokered turnover, with their names from the directory.
            top = _api(world, f"/market/stats/contracts?from={since}&group_by=broker_level3")
            expected = sorted(
                (
                    (r["key"]["broker_level3"], r["contract_amount_fen"])
                    for r in top["rows"]
                    if r["key"]["broker_level3"]
                ),
                key=lambda pair: -pair[1],
            )
            rows = page.query_selector_all("#top-institutions tbody tr")
            assert [
                (r.get_attribute("data-org"), int(r.query_selector_all("td")[2].get_attribute("data-fen") or -1))
                for r in rows
            ] == expected
            assert page.inner_text("#top-institutions tbody tr:first-child td:nth-child(2)") == "四川某技术转移中心"
            # Exact values on hover, numbers in 亿元.
            assert "分" in (page.get_attribute("#total-contract", "title") or "")
            assert page.inner_text("#total-contract").endswith("亿元")
            watched.screenshot(f"dashboard-{world.backend}-desktop.png")
            assert watched.problems == []
        finally:
            watched.close()

    def test_phone_width_has_no_horizontal_scroll(self, world: World, browser: Any) -> None:
        watched = Watched(browser, world.server.base_url, PHONE)
        try:
            page = watched.open()
            width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            assert width[0] <= width[1], width
            watched.screenshot(f"dashboard-{world.backend}-phone.png")
            assert watched.problems == []
        finally:
            watched.close()

    def test_signed_in_statistician_sees_only_their_subtree(self, world: World, browser: Any) -> None:
        watched = Watched(browser, world.server.base_url, DESKTOP)
        try:
            page = watched.open()
            page.fill("#signin-email", world.sub_a_email)
            page.fill("#signin-password", world.sub_a_password)
            page.click("#signin button[type=submit]")
            watched.wait_renders(2)
            since = _api(world, "/market/stats/cumulative", world.sub_a)["since"]
            mine = _api(world, f"/market/stats/contracts?from={since}&group_by=year", world.sub_a)
            assert mine["total"]["count"] == 2
            _assert_headline(watched, mine)
            assert _chart(watched, "chart-yearly") == _rows(mine, "year")
            assert world.sub_a.org_path is not None
            assert world.sub_a.org_path in page.inner_text("#scope")
            assert not any("access_token" in url for url in watched.requests)
            assert watched.problems == []
        finally:
            watched.close()

    def test_filter_changes_the_charts_and_exports_download(self, world: World, browser: Any) -> None:
        watched = Watched(browser, world.server.base_url, DESKTOP)
        try:
            page = watched.open()
            page.fill("#signin-email", world.center_email)
            page.fill("#signin-password", world.center_password)
            page.click("#signin button[type=submit]")
            watched.wait_renders(2)
            unfiltered = int(watched.attr("#total-contract", "data-fen"))
            # Signed in, the targets are the caller's that meet the period (/cumulative): not next year's.
            targets = _api(world, "/market/stats/cumulative", world.center)["targets"]
            assert world.targets[0] in {t["id"] for t in targets}
            assert world.targets[1] not in {t["id"] for t in targets}
            _assert_targets(watched, targets, world, public=False)
            page.select_option("#f-field", "new_energy")
            watched.requests.clear()
            page.click("#filters button[type=submit]")
            watched.wait_renders(3)
            assert any("technical_field=new_energy" in url for url in watched.requests), watched.requests
            since = _api(world, "/market/stats/cumulative", world.center)["since"]
            filtered = _api(
                world, f"/market/stats/contracts?from={since}&group_by=year&technical_field=new_energy", world.center
            )
            _assert_headline(watched, filtered)
            assert filtered["total"]["contract_amount_fen"] != unfiltered
            assert set(_chart(watched, "chart-field")) == {"new_energy"}
            with page.expect_download() as download:
                page.click("#dl-csv")
            saved = download.value.path()
            assert saved is not None
            text = Path(saved).read_text(encoding="utf-8-sig")
            assert text.startswith("year,technical_field,kind,"), text[:80]
            assert "new_energy" in text
            assert "agriculture" not in text
            assert watched.problems == []
        finally:
            watched.close()
