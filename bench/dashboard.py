"""Dashboard benchmark: `python -m bench.dashboard [--rows 1000000] [--runs 7]`.

1. Loads N registered contracts into a fresh SQLite market database with bench/stats.py's generator and loader
   (the same skewed data, rollup built), in the data folder `techmarket serve` then runs on (the embedded default,
   as `make run`; tests/support/server.py starts it on a free port).
2. Headless chromium (Debian's, through Playwright) loads /dashboard until the page says every chart has rendered
   (body[data-ready="1"]): **cold** = a new browser context each time (empty cache), **warm** = a reload in the
   same context (ECharts from the cache, our files revalidated). Beside it, in the same run, the **baseline**: a
   static page of the same server (the vendored ECharts licence, text) in a new context.
3. For the last cold load, the browser's resource timings per request (which API call is slow).

Between loads the machine's load average is printed: the machine is shared, and the numbers depend on it.

Prints a table (median / min / max of each); docs/benchmarks.md "## Dashboard" records a run.

With ``--directory`` it first builds, through the running server's API (as the browser tests do), the 1+4+N tree the
page's institution sections count: four sub-centers, transfer institutions below them, designations (示范机构) and
broker certificates (some expired), and a Sichuan–Chongqing contract-amount target running to this year's end — what docs/dashboard.png shows.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.stats import World, load
from shared.clock import today_in_china
from tests.market.directory.factories import add_broker
from tests.support.live import LiveActors, LiveStack
from tests.support.server import running_server

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def _summary(values: list[float]) -> str:
    return f"median {statistics.median(values):7.0f} ms   min {min(values):7.0f}   max {max(values):7.0f}"


def _measure(base_url: str, runs: int, screenshot: Path | None = None) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    out: dict[str, Any] = {"cold": [], "warm": [], "baseline": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[*args, "--disable-gpu"])
        # Every chart drawn (renders counts only the full path, not a page without ECharts). A function, not a
        # string: the page's CSP forbids eval.
        ready = "() => document.body.dataset.ready === '1' && Number(document.body.dataset.renders) >= 1"
        # One unmeasured load first: the server's first answers (imports, caches) are not the page's cost.
        warmup = browser.new_context(base_url=base_url)
        warmup.new_page().goto("/dashboard")
        warmup.pages[0].wait_for_function(ready, timeout=120_000)
        warmup.close()
        for _ in range(runs):
            context = browser.new_context(base_url=base_url, viewport={"width": 1366, "height": 900})
            page = context.new_page()
            started = time.perf_counter()
            page.goto("/dashboard/vendor/ECHARTS-LICENSE.txt")
            out["baseline"].append((time.perf_counter() - started) * 1000)
            context.close()

            context = browser.new_context(base_url=base_url, viewport={"width": 1366, "height": 900})
            page = context.new_page()
            started = time.perf_counter()
            page.goto("/dashboard")
            page.wait_for_function(ready, timeout=120_000)
            out["cold"].append((time.perf_counter() - started) * 1000)
            if screenshot is not None:
                page.screenshot(path=str(screenshot), full_page=True)
            resources = page.evaluate(
                "performance.getEntriesByType('resource').map(e => [e.name, Math.round(e.startTime),"
                " Math.round(e.duration)])"
            )
            started = time.perf_counter()
            page.reload()
            page.wait_for_function(ready, timeout=120_000)
            out["warm"].append((time.perf_counter() - started) * 1000)
            context.close()
        out["resources"] = resources
        browser.close()
    return out


# Sub-centers (分中心) and their transfer institutions: (name, region, designation level or None, designation year,
# certificates' last valid day relative to today in days; negative = expired).
TREE: dict[tuple[str, str], list[tuple[str, str, str | None, int, tuple[int, ...]]]] = {
    ("成都分中心", "510100"): [
        ("四川大学技术转移中心", "510100", "national", 2021, (720, 540, 400, 365, 200, 90, -30)),
        ("电子科技大学科技成果转化中心", "510100", "national", 2022, (700, 380, 300, 120)),
        ("西南交通大学技术转移中心", "510100", "provincial", 2023, (600, 420, 60)),
        ("成都技术转移集团", "510100", "provincial", 2024, (500, 240, -10)),
        ("天府新区知识产权运营中心", "510100", None, 0, (330,)),
    ],
    ("绵阳分中心", "510700"): [
        ("中国工程物理研究院技术转移中心", "510700", "national", 2021, (800, 650, 90)),
        ("西南科技大学技术转移中心", "510700", "provincial", 2022, (300, 150)),
    ],
    ("德阳分中心", "510600"): [
        ("德阳重装技术转移中心", "510600", "provincial", 2023, (410, 120, -200)),
    ],
    ("重庆分中心", "500103"): [
        ("重庆大学技术转移中心", "500103", "national", 2022, (900, 500, 260, 30)),
        ("重庆科技成果转化中心", "500103", "provincial", 2025, (450,)),
    ],
}


async def _directory(base_url: str) -> None:
    """The 1+4+N tree, designations, certificates and a running target, through the API (see the docstring)."""
    today = today_in_china()
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        actors = LiveActors(client)
        admin = await actors.platform_admin()
        center = await actors.org_member(kind="center", roles=("statistician",))
        for (sub_name, sub_region), institutions in TREE.items():
            sub = await actors.org_member(kind="sub_center", parent=center, name=sub_name, region_code=sub_region)
            for name, region, level, year, certificates in institutions:
                org = await actors.org_member(kind="transfer_institution", parent=sub, name=name, region_code=region)
                if level is not None:
                    response = await client.put(
                        f"/auth/organizations/{org.org_id}/designation",
                        json={"level": level, "year": year},
                        headers=admin.headers,
                    )
                    response.raise_for_status()
                for days in certificates:
                    await add_broker(
                        LiveStack(client),  # type: ignore[arg-type]
                        actors,
                        org.org_id,
                        valid_until=today + dt.timedelta(days=days),
                    )
        response = await client.post(
            "/market/stats/targets",
            json={
                "name": f"2021—{today.year}年川渝累计技术合同成交额",
                "metric": "contract_amount",
                "region": "川渝",
                "period_from": "2021-01-01",
                "period_to": f"{today.year}-12-31",
                "value": 15_000_000_000_000,  # 1500亿元
                "source": "川渝科技创新合作工作要点（示例）",
            },
            headers=admin.headers,
        )
        response.raise_for_status()
        designated = sum(1 for rows in TREE.values() for row in rows if row[2] is not None)
        for _ in range(300):  # auth's feed reaches market's directory within seconds
            body = (await client.get("/market/stats/institutions")).json()
            if body["demonstration_institutions"]["total"] == designated:
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"market's directory never counted {designated} demonstration institutions: {body}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="registered contracts to load")
    parser.add_argument("--runs", type=int, default=7, help="cold and warm loads each")
    parser.add_argument("--data-dir", type=Path, help="reuse a loaded data folder (its market.db)")
    parser.add_argument("--screenshot", type=Path, help="save the page after a cold load here (PNG)")
    parser.add_argument(
        "--directory", action="store_true", help="first add sub-centers, institutions, designations and a target"
    )
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    market_db = data_dir / "market.db"
    if not market_db.exists():
        print(f"loading {args.rows:,} contracts into {market_db}", file=sys.stderr)
        started = time.perf_counter()
        data_dir.mkdir(parents=True, exist_ok=True)
        asyncio.run(
            load(
                f"sqlite+aiosqlite:///{market_db}",
                World(random.Random(20211231)),
                args.rows,
                log=lambda line: print(line, file=sys.stderr),
            )
        )
        print(f"loaded in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    with running_server(data_dir, startup_timeout=300) as server:
        if args.directory:
            asyncio.run(_directory(server.base_url))
        result = _measure(server.base_url, args.runs, args.screenshot)
    print(f"/dashboard, {args.rows:,} contracts (SQLite, `techmarket serve`), {args.runs} loads each")
    print(f"  load average at the end: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
    for name in ("baseline", "cold", "warm"):
        print(f"  {name:8s} {_summary(result[name])}")
    print("  last cold load, per request (start ms, duration ms):")
    for name, start, duration in sorted(result["resources"], key=lambda r: -r[2]):
        print(f"    {start:6d} {duration:6d}  {name.split('//', 1)[-1].split('/', 1)[-1]}")


if __name__ == "__main__":
    main()
