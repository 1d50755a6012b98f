"""Load benchmark: a realistic mix against a running techmarket, with the gateway's trivial route as the floor.

    python -m bench.load                          # embedded default (`techmarket serve`), 100,000 of each kind
    python -m bench.load --size 3000 --contracts 20000 --duration 30 --rate 60   # a quick run
    python -m bench.load --url http://127.0.0.1:8080 --admin-email … --admin-password …   # an existing gateway
    python -m bench.load --repo /tmp/old-checkout --loop asyncio --http h11      # "before": another checkout

What it does (not a test: results go into docs/benchmarks.md by hand, with the machine's load):
1. Data. Contracts come from bench/stats.py's generator (registered, with the offices of its synthetic province),
   loaded straight into market's SQLite file before the server starts. The server is `techmarket serve`'s call
   (uvicorn, the embedded app, a fresh DATA_DIR) unless --url names one. Achievements are bench/search.py's
   generator (the 958 real patents, varied until N); demands are written from the same texts. Embedded, they are
   written straight into market's database as published rows with their audit rows and search outbox events
   (market's own row builder and public fields; the organizations go through the API), and the server's relay
   carries them to search; with --url or --seed-via-api they are imported through POST /market/achievements/import
   (demands posted) and published one by one. Either way the benchmark waits until search has indexed them all.
   --workers N serves the embedded app with N uvicorn worker processes; --connections N runs every capacity class
   with N connections; --classes picks capacity classes.
2. Capacity per class, closed loop, one connection at a time (as the issue's measurement): the floor (`GET /`), a
   point read, a list of 20, a one-word search — each for --capacity-seconds with wrk (when installed; a Lua script
   picks the paths) or else the async client. Rates are compared with the floor's rate of the same run.
3. The mix, open loop: an async client (httpx, one event loop) starts requests at exponentially distributed
   intervals for an average of --rate per second whatever the answers do (latency counts from the scheduled start,
   so a stalled server cannot hide its queue): 60% search (one word, two words, filters + facets, a need written as
   sentences via POST /search/achievements/similar), 25% listing reads (a point read, a list of 20), 10% writes
   (create a draft, publish a draft, submit a contract), 5% statistics (the public headline, a breakdown).
   Errors (anything but the expected status) are counted and must be 0. The machine's load average is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import functools
import json
import os
import random
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

REPO = Path(__file__).resolve().parents[1]
ADMIN_EMAIL = "bench-admin@techmarket.test"
ADMIN_PASSWORD = "bench-admin-password-7c1e"
PASSWORD = "correct horse battery staple"
ONE_WORD = ["电池", "无人机", "传感器", "算法", "图像", "通信", "材料", "电机", "芯片", "基站", "电解质", "摄像头"]
TWO_WORDS = ["图像 识别", "锂电池 材料", "无人机 巡检", "数据 处理", "信号 发送", "控制 电路", "温度 传感器"]
NEEDS = [
    "寻求图像识别方面的技术合作，用于工业产品表面缺陷检测，要求提高检测精度。",
    "我公司需要锂电池正极材料的制备技术，要求降低成本并提高循环寿命。",
    "寻求无人机自动巡检输电线路的技术，要求实现故障的自动识别与定位。",
    "需要一种低功耗无线传感器网络的数据采集方案，用于农业大棚温湿度监测。",
    "寻求电机控制算法的合作开发，要求减少振动和噪声。",
]
# bench/search.py's index-side mode names → market's transfer modes.
MARKET_MODES = {"license": "ordinary_license", "joint_development": "co_development"}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the server ------------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def embedded_server(repo: Path, data_dir: Path, loop: str, http: str, workers: int = 1) -> Iterator[tuple[str, int]]:
    """`techmarket serve`'s uvicorn call on a free port (loop/http "auto" = what serve picks), stopped on exit.
    ``workers`` > 1: uvicorn's master and that many worker processes sharing the socket, each a whole embedded app
    (as market's `--workers` in the production topology). Yields (base URL, pid)."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(repo),
        "DATA_DIR": str(data_dir),
        "AUTH_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
        "AUTH_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "SEARCH_EMBEDDER": "none",
        "LOG_LEVEL": "WARNING",
    }
    for name in list(env):
        if name.endswith("DATABASE_URL") or name == "MEILI_URL":
            del env[name]
    if workers > 1:
        code = (
            "import uvicorn; from shared.serving import server_choices; loop, http = server_choices(); "
            f"loop = loop if {loop!r} == 'auto' else {loop!r}; http = http if {http!r} == 'auto' else {http!r}; "
            f"uvicorn.run('services.embedded:create_app', factory=True, workers={workers}, host='127.0.0.1', "
            f"port={port}, loop=loop, http=http, proxy_headers=False, log_config=None, access_log=False)"
        )
        argv = [sys.executable, "-c", code]
    elif loop == "auto" and http == "auto":
        argv = [sys.executable, "-c", "from services.cli import main; main()", "serve", "--port", str(port)]
    else:
        code = (
            "import uvicorn; from services.embedded import create_app; "
            f"uvicorn.run(create_app(), host='127.0.0.1', port={port}, loop={loop!r}, http={http!r}, "
            "proxy_headers=False, log_config=None, access_log=False)"
        )
        argv = [sys.executable, "-c", code]
    log_path = data_dir / "server.log"
    with log_path.open("wb") as out:
        process = subprocess.Popen(argv, cwd=repo, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"server exited: {log_path.read_text(errors='replace')[-3000:]}")
                with contextlib.suppress(httpx.TransportError):
                    if all(httpx.get(f"{base}/{s}/readyz").status_code == 200 for s in ("auth", "market", "search")):
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError("server not ready after 120 s")
                time.sleep(0.3)
            yield base, process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


# -- data ------------------------------------------------------------------------------------------------------------


async def load_contracts(data_dir: Path, n: int) -> Any:
    """bench/stats.py's registered contracts straight into market's SQLite file; returns its World (offices)."""
    from bench.stats import World as StatsWorld
    from bench.stats import load as load_stats

    world = StatsWorld(random.Random(20211231))
    await load_stats(f"sqlite+aiosqlite:///{data_dir / 'market.db'}", world, n, log=log)
    return world


def credit_code(region: str) -> str:
    from stdnum.cn import uscc

    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    body = "91" + region + "".join(secrets.choice(alphabet) for _ in range(9))
    return str(body + uscc.calc_check_digit(body))


@dataclass
class Org:
    name: str
    kind: str
    region: str
    credit_code: str
    email: str
    token: str = ""
    id: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def login(client: httpx.AsyncClient, email: str, password: str) -> str:
    response = await client.post(
        "/auth/token", data={"grant_type": "password", "username": email, "password": password}
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


async def verified_org(client: httpx.AsyncClient, admin: str, name: str, kind: str, region: str) -> Org:
    org = Org(name, kind, region, credit_code(region), f"{kind}-{secrets.token_hex(4)}@bench.test")
    body = {
        "organization": {"name": name, "kind": kind, "credit_code": org.credit_code, "region_code": region},
        "user": {"email": org.email, "password": PASSWORD, "name": name},
    }
    (await client.post("/auth/signup", json=body)).raise_for_status()
    token = await login(client, org.email, PASSWORD)
    me = await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    org.id = me.json()["memberships"][0]["organization"]["id"]
    verify = await client.post(f"/auth/organizations/{org.id}/verify", headers={"Authorization": f"Bearer {admin}"})
    verify.raise_for_status()
    org.token = await login(client, org.email, PASSWORD)  # a token carrying the verified organization
    for _ in range(80):  # auth's relay tells market's directory
        if (await client.get(f"/market/directory/organizations/{org.id}")).status_code == 200:
            return org
        await asyncio.sleep(0.25)
    raise RuntimeError(f"market never heard of organization {org.id}")


def achievement_rows(n: int) -> Iterator[dict[str, Any]]:
    """bench/search.py's generator: the real patents, varied until n; filter values drawn at random."""
    from bench.search import load_records, make_documents

    rng = random.Random(15)
    for doc in make_documents(n, load_records()):
        low = rng.choice([None, rng.randrange(1, 500) * 1_000_000])
        yield {
            "title": doc.title[:200],
            "summary": doc.body[:1000] or None,
            "description": doc.body or None,
            "technical_field": doc.technical_field,
            "ip_type": doc.ip_type,
            "trl": doc.trl,
            "transfer_modes": [MARKET_MODES.get(m, m) for m in doc.modes],
            "price": {"kind": "negotiable"} if low is None else {"kind": "range", "min_fen": low, "max_fen": low * 2},
            "region_code": doc.region_code,
        }


def token_principal(token: str) -> Any:
    """The market's Principal of ``token`` (its claims read without verification: the seeding trusts its own)."""
    import base64

    from shared.security import Principal

    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return Principal.from_claims(claims)


def demand_body(row: dict[str, Any]) -> dict[str, Any]:
    """A demand written from an achievement's texts (the API path and the bulk path post the same)."""
    return {
        "title": ("寻求" + row["title"].removeprefix("一种"))[:200],
        "description": row["description"],
        "technical_field": row["technical_field"],
        "cooperation_modes": ["transfer"],
        "budget": row["price"],
    }


async def bulk_listings(
    database_url: str, university: Org, enterprise: Org, rows: list[dict[str, Any]], demands: int, batch: int = 2000
) -> tuple[list[str], list[str]]:
    """Published listings written straight into market's database, each with what publishing writes: the row
    (validated by the API's own schema and built by market's own ``_new_row``), its audit row and its search outbox
    event (``op=upsert``, the public fields as ``_public_fields`` gives them). The running server's relay then
    carries the events to search, which indexes them through its ingestion endpoint, as for any publish.

    Not written: match alert jobs (the benchmark's world has no saved searches, and 200,000 demand↔achievement
    alert rounds would keep the worker busy through the measurement). Versions start at 2 (created, published)."""
    # pydantic 2.14 inspects the signature of every default factory on every SQLModel construction (~1 ms an object
    # here, most of the bulk write's time); the answer depends on the factory only, so this process remembers it.
    from pydantic._internal import _fields

    from services.market.audit import service as audit_service
    from services.market.directory import service as directory
    from services.market.listings.kinds import ACHIEVEMENT, DEMAND, ListingKind
    from services.market.listings.schemas import AchievementCreate, DemandCreate
    from services.market.listings.service import _new_row, _public_fields
    from services.market.outbox import service as outbox_service
    from shared.clock import utcnow
    from shared.db import create_engine, create_sessionmaker

    _fields.takes_validated_data_argument = functools.cache(_fields.takes_validated_data_argument)  # type: ignore[assignment]
    engine = create_engine(database_url)
    sessionmaker = create_sessionmaker(engine)
    ids: dict[str, list[str]] = {"achievement": [], "demand": []}
    started = time.perf_counter()

    async def write(kind: ListingKind, org: Org, payloads: list[Any]) -> None:
        principal = token_principal(org.token)
        async with sessionmaker() as reader:
            owner = await directory.get(session=reader, org_id=uuid.UUID(org.id))
        if owner is None:
            raise RuntimeError(f"market's directory does not know {org.id}")
        # Nothing below touches the database until the commit's flush: SQLite's write lock (BEGIN IMMEDIATE) is held
        # for the inserts only, not while the rows are built, so the relay keeps delivering meanwhile.
        async with sessionmaker() as session, session.begin():
            now = utcnow()
            for payload in payloads:
                row = _new_row(kind, principal, owner.id, payload)
                row.status, row.version, row.published_at, row.updated_at = "published", 2, now, now
                session.add(row)
                await audit_service.record(
                    session=session,
                    entity_kind=kind.name,
                    entity_id=row.id,
                    action="published",
                    from_status=None,
                    to_status=row.status,
                    actor=principal,
                    flush=False,
                )
                await outbox_service.enqueue(
                    session=session,
                    entity_kind=kind.name,
                    entity_id=row.id,
                    version=row.version,
                    event_type=f"{kind.name}.published",
                    op="upsert",
                    fields=_public_fields(kind, row, owner),
                    flush=False,
                )
                ids[kind.name].append(str(row.id))

    try:
        for start in range(0, len(rows), batch):
            await write(
                ACHIEVEMENT, university, [AchievementCreate.model_validate(r) for r in rows[start : start + batch]]
            )
            if (start // batch) % 10 == 9 or start + batch >= len(rows):
                log(f"  bulk: {len(ids['achievement']):,} achievements ({time.perf_counter() - started:.0f} s)")
        for start in range(0, demands, batch):
            chunk = [demand_body(rows[i % len(rows)]) for i in range(start, min(demands, start + batch))]
            await write(DEMAND, enterprise, [DemandCreate.model_validate(d) for d in chunk])
            if (start // batch) % 10 == 9 or start + batch >= demands:
                log(f"  bulk: {len(ids['demand']):,} demands ({time.perf_counter() - started:.0f} s)")
    finally:
        await engine.dispose()
    return ids["achievement"], ids["demand"]


async def gather_limited(calls: list[Callable[[], Awaitable[None]]], concurrency: int, what: str) -> None:
    queue = list(reversed(calls))
    done = 0
    started = time.perf_counter()

    async def worker() -> None:
        nonlocal done
        while queue:
            await queue.pop()()
            done += 1
            if done % 2000 == 0:
                log(f"  {what}: {done:,}/{len(calls):,} ({time.perf_counter() - started:.0f} s)")

    await asyncio.gather(*(worker() for _ in range(concurrency)))


@dataclass
class World:
    """What the mix reads and writes."""

    admin: str
    university: Org
    enterprise: Org
    achievement_ids: list[str]
    demand_ids: list[str]
    drafts: list[tuple[str, int]] = field(default_factory=list)


async def seed(
    client: httpx.AsyncClient,
    size: int,
    demands: int,
    admin_login: tuple[str, str],
    *,
    office: bool = False,
    bulk_database: str | None = None,
    save: Callable[[World], None] | None = None,
) -> World:
    """``office``: also a registration office serving Chengdu (contracts need one; bench/stats.py's offices are
    there only when its contracts were loaded into the embedded database). ``bulk_database``: market's database
    URL — the listings are written there as published rows with their outbox events (:func:`bulk_listings`)
    instead of imported and published one by one through the API; the organizations go through the API either way."""
    admin = await login(client, *admin_login)
    if office:
        await verified_org(client, admin, f"压测登记机构{secrets.token_hex(2)}", "registration_office", "510100")
    university = await verified_org(client, admin, f"压测大学{secrets.token_hex(2)}", "university", "510104")
    enterprise = await verified_org(client, admin, f"压测科技有限公司{secrets.token_hex(2)}", "enterprise", "500103")
    ids: list[str] = []
    rows = list(achievement_rows(size))
    started = time.perf_counter()
    if bulk_database is not None:
        ids, demand_ids = await bulk_listings(bulk_database, university, enterprise, rows, demands)
        world = World(admin, university, enterprise, ids, demand_ids)
        if save is not None:  # an interrupted wait below keeps the data (a later run's relay carries on)
            save(world)
        await wait_indexed(client, len(ids), len(demand_ids))
        log(
            f"seeded and indexed: {len(ids):,} achievements, {len(demand_ids):,} demands "
            f"({time.perf_counter() - started:.0f} s)"
        )
        return world
    for start in range(0, len(rows), 5000):
        lines = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows[start : start + 5000]).encode()
        response = await client.post(
            "/market/achievements/import",
            content=lines,
            headers={**university.headers, "Content-Type": "application/x-ndjson"},
            timeout=600,
        )
        response.raise_for_status()
        report = response.json()
        if report["failed"]:
            raise RuntimeError(f"import failed rows: {[r for r in report['rows'] if r['status'] == 'error'][:3]}")
        ids += [r["id"] for r in report["rows"]]
        log(f"  imported {len(ids):,}/{size:,} achievements ({time.perf_counter() - started:.0f} s)")

    async def as_org(org: Org, send: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
        response = await send()
        if response.status_code == 401:  # a long seeding outlives the access token: sign in again
            org.token = await login(client, org.email, PASSWORD)
            response = await send()
        return response

    async def publish(plural: str, listing_id: str, org: Org) -> None:
        response = await as_org(
            org,
            lambda: client.post(f"/market/{plural}/{listing_id}/publish", headers={**org.headers, "If-Match": '"v1"'}),
        )
        if response.status_code != 200:
            raise RuntimeError(f"publish {plural}/{listing_id}: {response.status_code} {response.text[:300]}")

    await gather_limited([lambda i=i: publish("achievements", i, university) for i in ids], 8, "published")
    demand_ids: list[str] = []

    async def post_demand(i: int) -> None:
        row = rows[i % len(rows)]
        body = demand_body(row)
        response = await as_org(
            enterprise, lambda: client.post("/market/demands", json=body, headers=enterprise.headers)
        )
        if response.status_code != 201:
            raise RuntimeError(f"post demand: {response.status_code} {response.text[:300]}")
        demand_id = response.json()["id"]
        await publish("demands", demand_id, enterprise)
        demand_ids.append(demand_id)

    await gather_limited([lambda i=i: post_demand(i) for i in range(demands)], 8, "demands")
    await wait_indexed(client, len(ids), len(demand_ids))
    log(f"seeded and indexed: {len(ids):,} achievements, {len(demand_ids):,} demands")
    return World(admin, university, enterprise, ids, demand_ids)


async def wait_indexed(client: httpx.AsyncClient, achievements: int, demands: int) -> None:
    """Until search (fed by market's relay) holds every seeded listing; 40 minutes at most."""
    started = time.perf_counter()
    for kind, expected in (("achievements", achievements), ("demands", demands)):
        for i in range(4800):
            total = (await client.get(f"/search/{kind}", params={"limit": 1})).json()["total"]
            if total >= expected:
                break
            if i % 60 == 0:
                log(f"  search holds {total:,}/{expected:,} {kind} ({time.perf_counter() - started:.0f} s)")
            await asyncio.sleep(0.5)
        else:
            raise RuntimeError(f"search indexed only {total} of {expected} {kind}")


# -- capacity: closed loop, one connection ---------------------------------------------------------------------------

WRK_SCRIPT = """
local paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
local i = 0
local method, body, headers = "%s", %s, %s
request = function()
  i = i + 1
  if body then
    return wrk.format(method, paths[(i %% #paths) + 1], headers, string.format(body, math.random(1e9), i))
  end
  return wrk.format(method, paths[(i %% #paths) + 1], headers)
end
done = function(summary, latency, requests)
  io.write(string.format('WRKJSON {"requests": %%d, "seconds": %%f, "p50": %%f, "p99": %%f, "errors": %%d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


def capacity_wrk(
    base: str, paths: list[str], seconds: int, connections: int, work: Path, post: Post | None = None
) -> dict[str, float]:
    listing = work / f"paths-{secrets.token_hex(3)}.txt"
    listing.write_text("\n".join(paths) + "\n", encoding="utf-8")
    script = work / f"script-{secrets.token_hex(3)}.lua"
    if post is None:
        method, body, headers = "GET", "nil", "nil"
    else:
        method = "POST"
        body = lua_string(post.body_format)
        headers = "{" + ", ".join(f'["{k}"] = {lua_string(v)}' for k, v in post.headers.items()) + "}"
    script.write_text(WRK_SCRIPT % (listing, method, body, headers), encoding="utf-8")
    wrk = shutil.which("wrk")
    assert wrk is not None
    argv = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), base]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout  # noqa: S603
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
    data = json.loads(line.removeprefix("WRKJSON "))
    return {
        "rate": data["requests"] / data["seconds"],
        "p50_ms": data["p50"],
        "p99_ms": data["p99"],
        "errors": data["errors"],
    }


@dataclass
class Post:
    """A POST for wrk: the body is a Lua format string given (a random number, the request's number)."""

    body_format: str
    headers: dict[str, str]


async def capacity_client(
    base: str, paths: list[str], seconds: int, connections: int, post: Post | None = None
) -> dict[str, float]:
    samples: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        end = time.perf_counter() + seconds

        async def one(offset: int) -> None:
            nonlocal errors
            i = offset
            while time.perf_counter() < end:
                started = time.perf_counter()
                if post is None:
                    response = await client.get(paths[i % len(paths)])
                else:
                    content = (post.body_format % (random.randrange(10**9), i)).encode()
                    response = await client.post(paths[i % len(paths)], content=content, headers=post.headers)
                samples.append((time.perf_counter() - started) * 1000)
                errors += response.status_code not in (200, 201)
                i += connections

        begin = time.perf_counter()
        await asyncio.gather(*(one(c) for c in range(connections)))
        elapsed = time.perf_counter() - begin
    return {"rate": len(samples) / elapsed, "p50_ms": pct(samples, 50), "p99_ms": pct(samples, 99), "errors": errors}


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# -- the mix: open loop ----------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    samples: list[str] = field(default_factory=list)


class Mix:
    """The request classes and their shares; each picks its parameters at random."""

    def __init__(self, world: World, rng: random.Random) -> None:
        self.world, self.rng = world, rng
        self.contract_no = 0
        self.classes: list[tuple[str, str, float, Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]]] = [
            ("search", "one word", 0.20, self.search_one),
            ("search", "two words", 0.15, self.search_two),
            ("search", "filters + facets", 0.15, self.search_facets),
            ("search", "need as sentences", 0.10, self.similar),
            ("read", "point read", 0.15, self.point_read),
            ("read", "list of 20", 0.10, self.list_20),
            ("write", "create draft", 0.04, self.create),
            ("write", "publish", 0.03, self.publish),
            ("write", "submit contract", 0.03, self.submit_contract),
            ("stats", "public headline", 0.025, self.stats_public),
            ("stats", "breakdown", 0.025, self.stats_breakdown),
        ]
        self.weights = [share for _, _, share, _ in self.classes]

    def pick(self) -> tuple[str, str, Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]]:
        group, name, _, call = self.rng.choices(self.classes, self.weights)[0]
        return group, name, call

    async def search_one(self, c: httpx.AsyncClient) -> httpx.Response:
        return await c.get("/search/achievements", params={"q": self.rng.choice(ONE_WORD), "limit": 20})

    async def search_two(self, c: httpx.AsyncClient) -> httpx.Response:
        kind = self.rng.choice(["achievements", "demands"])
        return await c.get(f"/search/{kind}", params={"q": self.rng.choice(TWO_WORDS), "limit": 20})

    async def search_facets(self, c: httpx.AsyncClient) -> httpx.Response:
        params = {
            "q": self.rng.choice(ONE_WORD),
            "region": self.rng.choice(["510000", "510100", "500000"]),
            "trl_min": self.rng.randint(1, 5),
            "facets": "technical_field,region,trl",
            "limit": 20,
        }
        return await c.get("/search/achievements", params=params)

    async def similar(self, c: httpx.AsyncClient) -> httpx.Response:
        return await c.post("/search/achievements/similar", json={"text": self.rng.choice(NEEDS)})

    async def point_read(self, c: httpx.AsyncClient) -> httpx.Response:
        return await c.get(f"/market/achievements/{self.rng.choice(self.world.achievement_ids)}")

    async def list_20(self, c: httpx.AsyncClient) -> httpx.Response:
        plural = self.rng.choice(["achievements", "demands"])
        return await c.get(f"/market/{plural}", params={"limit": 20})

    async def create(self, c: httpx.AsyncClient) -> httpx.Response:
        body = next(achievement_rows(1)) | {"title": f"压测成果{secrets.token_hex(4)}"}
        response = await c.post("/market/achievements", json=body, headers=self.world.university.headers)
        if response.status_code == 201:
            self.world.drafts.append((response.json()["id"], 1))
        return response

    async def publish(self, c: httpx.AsyncClient) -> httpx.Response:
        if not self.world.drafts:  # none left: make one, then publish it (the publish is what is timed and judged)
            created = await self.create(c)
            if created.status_code != 201:
                return created
        listing_id, version = self.world.drafts.pop()
        headers = {**self.world.university.headers, "If-Match": f'"v{version}"'}
        return await c.post(f"/market/achievements/{listing_id}/publish", headers=headers)

    async def submit_contract(self, c: httpx.AsyncClient) -> httpx.Response:
        self.contract_no += 1
        u = self.world.university
        body = {
            "seller": {
                "name": u.name,
                "credit_code": u.credit_code,
                "region_code": u.region,
                "entity_type": "university",
            },
            "buyer": {
                "name": "重庆压测科技有限公司",
                "credit_code": credit_code("500103"),
                "region_code": "500103",
                "entity_type": "enterprise",
                "ownership": "private",
            },
            "kind": "transfer",
            "subkind": "patent_right_transfer",
            "technical_field": "new_materials",
            "title": "一种高强度复合材料的专利权转让",
            "contract_no": f"LOAD-{secrets.token_hex(3)}-{self.contract_no}",
            "signed_on": (dt.date.today() - dt.timedelta(days=10)).isoformat(),  # noqa: DTZ011
            "contract_amount_fen": self.rng.randrange(1, 10_000) * 100_00,
            "technology_amount_fen": 100_00,
        }
        return await c.post("/market/contracts", json=body, headers=u.headers)

    async def stats_public(self, c: httpx.AsyncClient) -> httpx.Response:
        return await c.get("/market/stats/public")

    async def stats_breakdown(self, c: httpx.AsyncClient) -> httpx.Response:
        group = self.rng.choice(["seller_city", "kind", "year,kind", "seller_province,buyer_province"])
        headers = {"Authorization": f"Bearer {self.world.admin}"}
        return await c.get("/market/stats/contracts", params={"group_by": group, "from": "2024-01-01"}, headers=headers)


EXPECTED = {"create draft": 201, "submit contract": 201}


async def run_mix(base: str, mix: Mix, rate: float, seconds: float, rng: random.Random) -> tuple[Outcome, float]:
    """Open loop: arrivals at exponential intervals (mean 1/rate) whatever the server does; each request is its own
    task. Latency counts from the scheduled arrival."""
    outcome = Outcome()
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        tasks: set[asyncio.Task[None]] = set()

        async def one(group: str, name: str, call: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]) -> None:
            scheduled = time.perf_counter()
            try:
                response = await call(client)
                ok = response.status_code == EXPECTED.get(name, 200)
                if not ok and len(outcome.samples) < 10:
                    outcome.samples.append(f"{name}: {response.status_code} {response.text[:200]}")
            except httpx.HTTPError as error:
                ok = False
                outcome.samples.append(f"{name}: {error!r}")
            outcome.latencies[name].append((time.perf_counter() - scheduled) * 1000)
            outcome.latencies[f"[{group}]"].append((time.perf_counter() - scheduled) * 1000)
            if not ok:
                outcome.errors[name] += 1

        begin = time.perf_counter()
        next_at = begin
        while next_at < begin + seconds:
            next_at += rng.expovariate(rate)
            delay = next_at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(*mix.pick()))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - begin
    return outcome, elapsed


# -- the run ---------------------------------------------------------------------------------------------------------


def start_profiler(pid: int, directory: Path, name: str, seconds: int, fmt: str) -> subprocess.Popen[bytes]:
    """py-spy records the server for the class's run: a flame graph per endpoint class (docs/profiles/)."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    directory.mkdir(parents=True, exist_ok=True)
    slug = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    argv = [py_spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "250", "--nonblocking"]
    argv += ["--format", fmt, "--output", str(directory / f"{slug}.{'svg' if fmt == 'flamegraph' else 'txt'}")]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    time.sleep(0.5)  # py-spy attaches before the load starts
    return process


async def measure(args: argparse.Namespace, base: str, world: World, work: Path, pid: int = 0) -> dict[str, Any]:
    rng = random.Random(args.seed)
    ids = rng.sample(world.achievement_ids, min(500, len(world.achievement_ids)))
    classes = {
        "floor GET /": ["/"],
        "point read": [f"/market/achievements/{i}" for i in ids],
        "list of 20": ["/market/achievements?limit=20", "/market/demands?limit=20"],
        "search one word": [f"/search/achievements?q={quote(w)}&limit=20" for w in ONE_WORD],
    }
    draft = next(achievement_rows(1)) | {"title": "TITLE"}
    posts = {
        "write: create draft": Post(
            json.dumps(draft, ensure_ascii=False)
            .replace("%", "%%")
            .replace("TITLE", f"压测成果{secrets.token_hex(4)}-%d-%d"),
            {**world.university.headers, "Content-Type": "application/json"},
        )
    }
    classes["write: create draft"] = ["/market/achievements"]
    if args.classes:
        wanted = [c.strip() for c in args.classes.split(",")]
        unknown = set(wanted) - set(classes)
        if unknown:
            raise SystemExit(f"unknown classes {sorted(unknown)}; known: {list(classes)}")
        classes = {name: paths for name, paths in classes.items() if name in wanted}
    result: dict[str, Any] = {"capacity": {}, "capacity_tool": "wrk" if shutil.which("wrk") else "httpx"}
    result["connections"] = args.connections
    load_start = os.getloadavg()
    async with httpx.AsyncClient(base_url=base, timeout=30) as warm:  # caches and pages warm, as in steady state
        for paths in classes.values():
            for path in paths[:50]:
                await warm.get(path)
    for name, paths in classes.items():
        if args.profile_dir and pid:
            profiler = start_profiler(pid, args.profile_dir, name, args.capacity_seconds, args.profile_format)
        post = posts.get(name)
        c = args.connections
        if shutil.which("wrk"):
            stats = await asyncio.to_thread(capacity_wrk, base, paths, args.capacity_seconds, c, work, post)
        else:
            stats = await capacity_client(base, paths, args.capacity_seconds, c, post)
        if args.profile_dir and pid:
            profiler.wait(timeout=60)
        result["capacity"][name] = stats
        log(f"  capacity {name}: {stats['rate']:.0f}/s p50 {stats['p50_ms']:.2f} ms p99 {stats['p99_ms']:.2f} ms")
    if args.concurrency and "point read" in classes:
        name = f"point read, {args.concurrency} connections"
        paths = classes["point read"]
        if shutil.which("wrk"):
            stats = await asyncio.to_thread(capacity_wrk, base, paths, args.capacity_seconds, args.concurrency, work)
        else:
            stats = await capacity_client(base, paths, args.capacity_seconds, args.concurrency)
        result["capacity"][name] = stats
        log(f"  capacity {name}: {stats['rate']:.0f}/s p50 {stats['p50_ms']:.2f} ms p99 {stats['p99_ms']:.2f} ms")
    result["load"] = (load_start[0], os.getloadavg()[0])
    log(f"  load average {result['load'][0]:.2f} → {result['load'][1]:.2f}")
    if args.duration > 0:
        load_before = os.getloadavg()
        log(f"  mix: {args.rate}/s open loop for {args.duration} s")
        outcome, elapsed = await run_mix(base, Mix(world, rng), args.rate, args.duration, rng)
        result["mix"] = {
            "rate_offered": args.rate,
            "seconds": elapsed,
            "requests": sum(len(v) for k, v in outcome.latencies.items() if not k.startswith("[")),
            "errors": dict(outcome.errors),
            "error_samples": outcome.samples,
            "load_before": load_before,
            "load_after": os.getloadavg(),
            "classes": {
                name: {
                    "count": len(values),
                    "rate": len(values) / elapsed,
                    "p50_ms": pct(values, 50),
                    "p95_ms": pct(values, 95),
                    "p99_ms": pct(values, 99),
                    "mean_ms": statistics.fmean(values),
                }
                for name, values in sorted(outcome.latencies.items())
            },
        }
    return result


def table(result: dict[str, Any]) -> str:
    cap = result["capacity"]
    if "floor GET /" not in cap:
        cap = {"floor GET /": {"rate": float("nan"), "p50_ms": 0.0, "p99_ms": 0.0, "errors": 0}, **cap}
    floor = cap["floor GET /"]["rate"]
    targets = {"point read": 0.5, "list of 20": 0.3, "search one word": 0.25}
    lines = [
        f"capacity ({result['capacity_tool']}, closed loop, {result['connections']} connection(s) unless named; "
        f"load average {result['load'][0]:.2f} → {result['load'][1]:.2f})",
        "| class | req/s | p50 ms | p99 ms | errors | rate / floor | target |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, s in cap.items():
        target = targets.get(name)
        verdict = "" if target is None else f"≥ {target:.0%}: {'met' if s['rate'] / floor >= target else 'NOT met'}"
        lines.append(
            f"| {name} | {s['rate']:.0f} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | {s['errors']} | "
            f"{s['rate'] / floor:.0%} | {verdict} |"
        )
    if "mix" in result:
        mix = result["mix"]
        errors = sum(mix["errors"].values())
        lines += [
            "",
            f"mix (httpx open loop, {mix['rate_offered']}/s offered, {mix['requests']} requests in "
            f"{mix['seconds']:.0f} s = {mix['requests'] / mix['seconds']:.0f}/s; errors {errors}; "
            f"load average {mix['load_before'][0]:.2f} → {mix['load_after'][0]:.2f})",
            "| class | requests | req/s | p50 ms | p95 ms | p99 ms | p99/p50 | errors |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, s in mix["classes"].items():
            lines.append(
                f"| {name} | {s['count']} | {s['rate']:.1f} | {s['p50_ms']:.1f} | {s['p95_ms']:.1f} | "
                f"{s['p99_ms']:.1f} | {s['p99_ms'] / s['p50_ms']:.1f} | {mix['errors'].get(name, '')} |"
            )
        if mix["error_samples"]:
            lines += ["", "error samples:", *mix["error_samples"]]
    return "\n".join(lines)


def save_world(path: Path, world: World) -> None:
    def org(o: Org) -> dict[str, str]:
        return {
            "name": o.name,
            "kind": o.kind,
            "region": o.region,
            "credit_code": o.credit_code,
            "email": o.email,
            "id": o.id,
        }

    data = {"university": org(world.university), "enterprise": org(world.enterprise)}
    data |= {"achievement_ids": world.achievement_ids, "demand_ids": world.demand_ids}
    path.write_text(json.dumps(data), encoding="utf-8")


async def reload_world(client: httpx.AsyncClient, saved: str, admin_login: tuple[str, str]) -> World:
    """The world of an earlier seeding (--data-dir; ``saved`` is its JSON), with fresh tokens."""
    data = json.loads(saved)
    orgs = [Org(**data[name]) for name in ("university", "enterprise")]
    for o in orgs:
        o.token = await login(client, o.email, PASSWORD)
    admin = await login(client, *admin_login)
    return World(admin, orgs[0], orgs[1], data["achievement_ids"], data["demand_ids"])


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    try:
        if args.url:
            async with httpx.AsyncClient(base_url=args.url, timeout=120) as client:
                world = await seed(
                    client, args.size, args.demands, (args.admin_email, args.admin_password), office=True
                )
                return await measure(args, args.url, world, work)
        data = args.data_dir or work / "data"
        data.mkdir(parents=True, exist_ok=True)
        saved = data / "bench-world.json"
        if args.contracts and not saved.exists():
            log(f"loading {args.contracts:,} contracts (bench/stats.py) into market's SQLite file")
            await load_contracts(data, args.contracts)
        with embedded_server(Path(args.repo), data, args.loop, args.http, args.workers) as (base, pid):
            log(f"server {base} (pid {pid}); {args.size:,} achievements, {args.demands:,} demands")
            async with httpx.AsyncClient(base_url=base, timeout=120) as client:
                if saved.exists():
                    log(f"reusing the data of {data} (seeded earlier; --size and friends ignored)")
                    world = await reload_world(client, saved.read_text(encoding="utf-8"), (ADMIN_EMAIL, ADMIN_PASSWORD))
                else:
                    bulk = None if args.seed_via_api else f"sqlite+aiosqlite:///{data / 'market.db'}"
                    world = await seed(
                        client,
                        args.size,
                        args.demands,
                        (ADMIN_EMAIL, ADMIN_PASSWORD),
                        bulk_database=bulk,
                        save=lambda w: save_world(saved, w),
                    )
                    save_world(saved, world)
            return await measure(args, base, world, work, pid)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100_000, help="achievements (bench/search.py's generator)")
    parser.add_argument("--demands", type=int, default=None, help="demands (default: --size)")
    parser.add_argument("--contracts", type=int, default=100_000, help="registered contracts (bench/stats.py)")
    parser.add_argument("--duration", type=float, default=60, help="seconds of the mix (0: capacity only)")
    parser.add_argument("--rate", type=float, default=100, help="mix requests per second offered (open loop)")
    parser.add_argument("--capacity-seconds", type=int, default=10, help="seconds per capacity class")
    parser.add_argument(
        "--connections", type=int, default=1, help="connections of every capacity class (the issue's: 1)"
    )
    parser.add_argument("--concurrency", type=int, default=16, help="connections of the extra point-read run (0: none)")
    parser.add_argument("--url", help="an existing server or gateway instead of starting the embedded default")
    parser.add_argument("--admin-email", default=ADMIN_EMAIL, help="platform admin of --url")
    parser.add_argument("--admin-password", default=ADMIN_PASSWORD, help="its password")
    parser.add_argument("--repo", default=str(REPO), help="checkout to serve (e.g. an older commit, for 'before')")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes of the embedded server")
    parser.add_argument(
        "--classes",
        default="",
        help="comma-separated capacity classes to run (default: all), e.g. 'floor GET /,point read'",
    )
    parser.add_argument("--loop", default="auto", choices=["auto", "asyncio", "uvloop"])
    parser.add_argument("--http", default="auto", choices=["auto", "h11", "httptools"])
    parser.add_argument("--profile-format", default="flamegraph", choices=["flamegraph", "raw"])
    parser.add_argument(
        "--data-dir", type=Path, help="keep the seeded data here; a later run with the same folder reuses it"
    )
    parser.add_argument(
        "--seed-via-api",
        action="store_true",
        help="import and publish the listings one by one through the API (slow) instead of the bulk write",
    )
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--profile-dir", type=Path, help="py-spy flame graphs of each capacity class here (SVG)")
    args = parser.parse_args()
    if args.demands is None:
        args.demands = args.size
    result = asyncio.run(main_async(args))
    result["args"] = {k: v for k, v in vars(args).items() if k != "json"}
    result["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    print(table(result))


if __name__ == "__main__":
    main()
