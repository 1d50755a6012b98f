"""Contract statistics benchmark: `python -m bench.stats [--rows 1000000] [--backends sqlite,postgresql]`.

For each backend, in a fresh database:
1. load N registered contracts with realistic skew (regions, fields, kinds, amounts, dates 2021–2025; a few
   amendments and revocations) straight into the tables (bulk SQL: executemany / COPY), then build the rollup
   with the same grouped upserts the import uses;
2. time, side by side, p50/p95 of the cumulative query and of a two-dimension breakdown THROUGH THE API
   (the market app in-process via httpx.ASGITransport, token verification included) and of the equivalent direct
   SUM … GROUP BY over the contracts table;
3. time a 100,000-row CSV import through the API;
4. PostgreSQL only: registrations per second with 32 concurrent clients (POST …/register through the API) while
   the statistics fold runs every second as in production (same process, so its CPU counts against the rate),
   the backlog it leaves, then the exactness check (every rollup level equals the ledger; serials gap-free).
Results print as a table; docs/benchmarks.md records a run.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import csv
import datetime as dt
import io
import itertools
import json
import math
import os
import platform
import random
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import sqlalchemy as sa
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet
from stdnum.cn import uscc

from services.market.app import SPEC as MARKET_SPEC
from services.market.app import create_app as create_market_app
from services.market.contracts.models import contracts_table, counters_table, deltas_table
from services.market.offices.models import offices_table
from services.market.settings import MarketSettings
from services.market.stats import fold as stats_fold
from services.market.stats.cube import LEVELS
from services.market.stats.fold import fold_all, fold_forever
from services.market.stats.models import cells_table
from shared.db import create_engine, create_sessionmaker
from shared.ids import new_id
from shared.migrations import upgrade_to_head
from shared.reference.regions import all_regions, flow_of

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
# The production defaults (MarketSettings.stats_fold_interval_seconds / stats_fold_batch).
FOLD_INTERVAL = MarketSettings.model_fields["stats_fold_interval_seconds"].default
FOLD_BATCH = MarketSettings.model_fields["stats_fold_batch"].default
SUBKINDS = [
    ("service", "technical_service", 0.38),
    ("service", "technical_training", 0.03),
    ("service", "technical_intermediary", 0.02),
    ("development", "commissioned_development", 0.25),
    ("development", "cooperative_development", 0.10),
    ("transfer", "patent_right_transfer", 0.04),
    ("transfer", "patent_application_right_transfer", 0.01),
    ("transfer", "technical_secret_transfer", 0.03),
    ("license", "patent_license", 0.04),
    ("license", "technical_secret_license", 0.02),
    ("consulting", "technical_consulting", 0.08),
]
FIELDS = [
    ("electronic_information", 0.24),
    ("advanced_manufacturing", 0.16),
    ("urban_social", 0.12),
    ("new_energy", 0.1),
    ("biomedicine", 0.09),
    ("modern_transportation", 0.08),
    ("environment", 0.06),
    ("new_materials", 0.06),
    ("agriculture", 0.05),
    ("aerospace", 0.03),
    ("nuclear", 0.01),
]
KIND_OPTIONS = [((k, s), w) for k, s, w in SUBKINDS]
ENTITIES = [
    ("enterprise", 0.7),
    ("university", 0.14),
    ("research_institute", 0.11),
    ("other", 0.03),
    ("individual", 0.02),
]


# -- data generation ------------------------------------------------------------------------------------------------


def _credit(n: int) -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    body = "91510100" + "".join(alphabet[(n // 31**i) % 31] for i in range(9))
    return body + uscc.calc_check_digit(body)


class World:
    """Regions, offices and brokers of the synthetic province, with skewed choice functions."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        regions = all_regions()
        counties = sorted(c for c, r in regions.items() if r.level == "county" and c[:2] in ("51", "50"))
        # Chengdu's districts and Chongqing's core carry most contracts: Zipf weights over a shuffled order that
        # keeps Chengdu (5101xx) first.
        chengdu = [c for c in counties if c.startswith("5101")]
        chongqing = [c for c in counties if c.startswith("5001")]
        rest = [c for c in counties if c not in chengdu and c not in chongqing]
        rng.shuffle(rest)
        self.counties = chengdu + chongqing[:10] + rest + chongqing[10:]
        self.county_weights = [1 / (i + 1) ** 0.9 for i in range(len(self.counties))]
        self.provinces = sorted(
            c for c, r in regions.items() if r.level == "province" and c not in ("510000", "500000")
        )
        cities = sorted({c[:4] + "00" for c in counties})
        self.offices = {city: new_id() for city in cities}
        self.serials: dict[tuple[str, int], int] = {}
        self._county_cum = list(itertools.accumulate(self.county_weights))
        self._cum: dict[int, tuple[list[Any], list[float]]] = {}
        center = new_id()
        subs = [new_id() for _ in range(4)]
        self.brokers = []
        for i in range(60):
            sub = subs[i % 4]
            org = new_id()
            self.brokers.append((org, f"/{center}/{sub}/{org}/"))
        self.center = center

    def pick(self, options: list[tuple[Any, float]]) -> Any:
        cached = self._cum.get(id(options))
        if cached is None:
            cached = self._cum[id(options)] = (
                [o for o, _ in options],
                list(itertools.accumulate(w for _, w in options)),
            )
        values, cum = cached
        return values[bisect.bisect(cum, self.rng.random() * cum[-1])]

    def county(self) -> str:
        return self.counties[bisect.bisect(self._county_cum, self.rng.random() * self._county_cum[-1])]

    def registration_no(self, city: str, day: dt.date) -> str:
        key = (city, day.year)
        self.serials[key] = self.serials.get(key, 0) + 1
        return f"{day.year}{city}{self.serials[key]:06d}"

    def buyer(self, seller: str) -> str:
        r = self.rng.random()
        if r < 0.52:
            return self.county() if self.rng.random() < 0.5 else seller[:2] + seller[2:4] + "00"
        if r < 0.64:
            return ("500103" if seller.startswith("51") else "510104") if self.rng.random() < 0.7 else self.county()
        if r < 0.95:
            return self.rng.choice(self.provinces)
        return self.rng.choice(["US", "DE", "JP", "SG", "GB"])

    def day(self) -> dt.date:
        # Turnover grows each year: later days are more likely.
        span = (dt.date(2025, 12, 31) - dt.date(2021, 1, 1)).days
        return dt.date(2021, 1, 1) + dt.timedelta(days=int(span * math.sqrt(self.rng.random())))

    def amount(self) -> int:
        return max(100_00, int(self.rng.lognormvariate(math.log(300_000_00), 1.6)))


def generate(world: World, n: int, start: int = 0) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Registered contracts and their deltas (registration; ~2% amended, ~0.5% revoked)."""
    rng = world.rng
    now = dt.datetime.now(dt.UTC)
    for i in range(start, start + n):
        seller = world.county()
        buyer = world.buyer(seller)
        kind, subkind = world.pick(KIND_OPTIONS)
        entity = world.pick(ENTITIES)
        day = world.day()
        amount = world.amount()
        technology = amount if kind in ("transfer", "license") else int(amount * rng.uniform(0.55, 1.0))
        broker = rng.choice(world.brokers) if rng.random() < 0.22 else None
        office = world.offices[seller[:4] + "00"]
        cid = new_id()
        contract = {
            "id": cid,
            "status": "registered",
            "rules_version": "2021",
            "kind": kind,
            "subkind": subkind,
            "technical_field": world.pick(FIELDS),
            "title": f"技术合同 {i}",
            "contract_no": f"B-{i}",
            "signed_on": day,
            "valid_from": None,
            "valid_to": None,
            "contract_amount_fen": amount,
            "claimed_technology_amount_fen": technology,
            "technology_amount_fen": technology,
            "seller_name": f"卖方{i % 5000}",
            "seller_credit_code": None if entity == "individual" else _credit(i % 5000),
            "seller_region_code": seller,
            "seller_entity_type": entity,
            "seller_ownership": "private" if entity == "enterprise" else None,
            "seller_org_id": None,
            "seller_verification": "unverified",
            "buyer_name": f"买方{i}",
            "buyer_credit_code": None if len(buyer) == 2 else _credit(100_000 + i),
            "buyer_region_code": buyer,
            "buyer_entity_type": "enterprise",
            "buyer_ownership": "private",
            "buyer_org_id": None,
            "buyer_verification": "unverified",
            "flow": flow_of(seller, buyer),
            "broker_org_id": broker[0] if broker else None,
            "broker_org_path": broker[1] if broker else None,
            "achievement_id": None,
            "demand_id": None,
            "proposal_id": None,
            "attachments": "[]",
            "office_id": office,
            "submitter_subject": "bench",
            "submitter_org_id": None,
            "submitted_at": now,
            "dedupe_key": f"bench-{i}",
            "registration_no": world.registration_no(seller[:4] + "00", day),
            "registered_on": day,
            "registered_at": now,
            "registrar_subject": "bench",
            "rejection_reason": None,
            "import_id": None,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        deltas = [_delta(cid, "register", day, 1, amount, technology, now)]
        r = rng.random()
        if r < 0.02:
            later = min(dt.date(2025, 12, 31), day + dt.timedelta(days=rng.randint(1, 200)))
            deltas.append(_delta(cid, "amend", later, 0, amount // 5, technology // 6, now))
        elif r < 0.025:
            later = min(dt.date(2025, 12, 31), day + dt.timedelta(days=rng.randint(1, 200)))
            deltas.append(_delta(cid, "revoke", later, -1, -amount, -technology, now))
            contract["status"] = "revoked"
        yield contract, deltas


def _delta(
    cid: uuid.UUID, action: str, day: dt.date, count: int, amount: int, technology: int, now: dt.datetime
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "contract_id": cid,
        "action": action,
        "effective_on": day,
        "effective_period": day.year * 100 + day.month,
        "count_delta": count,
        "contract_amount_delta_fen": amount,
        "technology_amount_delta_fen": technology,
        "reason": None,
        "actor_subject": "bench",
        "import_id": None,
        "created_at": now,
        "folded": True,  # the loader builds the rollup from the whole ledger afterwards
    }


# -- loading ----------------------------------------------------------------------------------------------------------


async def load(url: str, world: World, n: int, *, chunk: int = 20_000, log: Callable[[str], None]) -> dict[str, float]:
    engine = create_engine(url, pool_size=4)
    timings: dict[str, float] = {}
    try:
        await upgrade_to_head(engine, MARKET_SPEC.migrations, "alembic_version_market")
        now = dt.datetime.now(dt.UTC)
        async with engine.begin() as conn:
            await conn.execute(
                sa.insert(offices_table),
                [
                    {
                        "id": oid,
                        "region_code": city,
                        "region_prefix": city[:4],
                        "name": f"{city} 登记机构",
                        "active": True,
                        "created_by": "bench",
                        "created_at": now,
                    }
                    for city, oid in world.offices.items()
                ],
            )
        started = time.perf_counter()
        done = 0
        while done < n:
            size = min(chunk, n - done)
            batch = list(generate(world, size, done))
            contracts = [c for c, _ in batch]
            deltas = [d for _, ds in batch for d in ds]
            async with engine.begin() as conn:
                if engine.dialect.name == "postgresql":
                    raw = (await conn.get_raw_connection()).driver_connection
                    assert raw is not None
                    await _copy(raw, "contracts", contracts_table, contracts)
                    await _copy(raw, "contract_deltas", deltas_table, deltas)
                else:
                    await conn.execute(sa.insert(contracts_table), [{**c, "attachments": []} for c in contracts])
                    await conn.execute(sa.insert(deltas_table), deltas)
            done += size
            log(f"  loaded {done:,}/{n:,} contracts ({time.perf_counter() - started:.0f} s)")
        async with engine.begin() as conn:
            # Later registrations and imports continue each office's numbering after the loaded ones.
            await conn.execute(
                sa.insert(counters_table),
                [
                    {"office_id": world.offices[city], "year": year, "last_serial": serial}
                    for (city, year), serial in world.serials.items()
                ],
            )
        timings["load_s"] = time.perf_counter() - started
        started = time.perf_counter()
        sessionmaker = create_sessionmaker(engine)
        async with sessionmaker() as session:
            await stats_fold.rebuild(session=session)
            await session.commit()
        timings["rollup_build_s"] = time.perf_counter() - started
        async with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                await conn.execute(sa.text("ANALYZE"))
            else:
                await conn.execute(sa.text("ANALYZE"))
            cells = (await conn.execute(sa.select(sa.func.count()).select_from(cells_table))).scalar_one()
        timings["cells"] = float(cells)
        log(f"  rollup built in {timings['rollup_build_s']:.0f} s: {cells:,} cells for {len(LEVELS)} levels x 2 grains")
    finally:
        await engine.dispose()
    return timings


async def _copy(raw: Any, name: str, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    columns = [c.name for c in table.columns]
    records = [tuple(r[c] for c in columns) for r in rows]
    await raw.copy_records_to_table(name, records=records, columns=columns)


# -- the API in-process ----------------------------------------------------------------------------------------------------


class Tokens:
    """A signing key the market app trusts (its JWKS is served by a mock transport)."""

    def __init__(self, issuer: str, audience: str) -> None:
        self.key = ECKey.generate_key("P-256", parameters={"kid": "bench"})
        self.issuer, self.audience = issuer, audience

    def transport(self) -> httpx.MockTransport:
        jwks = KeySet([self.key]).as_dict(private=False)
        return httpx.MockTransport(lambda request: httpx.Response(200, json=jwks))

    def token(self, **claims: Any) -> dict[str, str]:
        now = int(time.time())
        payload = {
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "exp": now + 3600,
            "sub": str(new_id()),
            "jti": str(new_id()),
            "scope": "",
            **claims,
        }
        return {"Authorization": "Bearer " + jwt.encode({"alg": "ES256", "kid": "bench"}, payload, self.key)}


async def with_api(url: str, pool: int, body: Callable[[httpx.AsyncClient, Tokens, Any], Awaitable[Any]]) -> Any:
    from asgi_lifespan import LifespanManager

    settings = MarketSettings(
        database_url=url,
        environment="test",
        database_pool_size=pool,
        log_level="WARNING",
        data_dir=Path(tempfile.gettempdir()),
    )
    tokens = Tokens(settings.jwt_issuer, settings.jwt_audience)
    app = create_market_app(settings, transport=tokens.transport())
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=120) as client:
            return await body(client, tokens, app)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def timed(call: Callable[[], Awaitable[Any]], repeats: int, warmup: int = 5) -> list[float]:
    for _ in range(warmup):
        await call()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


CITY = "CASE WHEN substr(seller_region_code, 3, 4) = '0000' THEN seller_region_code ELSE substr(seller_region_code, 1, 4) || '00' END"


def direct_queries(dialect: str) -> dict[str, str]:
    month = "to_char(registered_on, 'YYYY-MM')" if dialect == "postgresql" else "strftime('%Y-%m', registered_on)"
    # Straight over the contracts table (registered ones, registration date): what a system without rollups runs.
    where = "status IN ('registered', 'amended') AND registered_on BETWEEN '2021-01-01' AND '2025-12-31'"
    return {
        "cumulative": f"SELECT {month} AS m, count(*), sum(contract_amount_fen), sum(technology_amount_fen) "
        f"FROM contracts WHERE {where} GROUP BY m ORDER BY m",
        "breakdown": f"SELECT {CITY} AS city, kind, count(*), sum(contract_amount_fen), sum(technology_amount_fen) "
        f"FROM contracts WHERE {where} GROUP BY city, kind",
    }


async def latency(url: str, repeats: int, direct_repeats: int, log: Callable[[str], None]) -> dict[str, Any]:
    results: dict[str, Any] = {}

    async def body(client: httpx.AsyncClient, tokens: Tokens, app: Any) -> None:
        center = str(new_id())
        headers = tokens.token(
            org=center, org_kind="center", org_path=f"/{center}/", org_verified=True, roles=["statistician"]
        )
        calls = {
            "cumulative": "/stats/cumulative?since=2021-01-01&until=2025-12-31",
            "breakdown": "/stats/contracts?from=2021-01-01&to=2025-12-31&group_by=seller_city,kind",
        }
        for name, path in calls.items():

            async def call(path: str = path) -> None:
                response = await client.get(path, headers=headers)
                assert response.status_code == 200, response.text

            results[f"api_{name}"] = await timed(call, repeats)
        engine = app.state.engine
        for name, sql in direct_queries(engine.dialect.name).items():

            async def direct(sql: str = sql) -> None:
                async with engine.connect() as conn:
                    (await conn.execute(sa.text(sql))).all()

            results[f"direct_{name}"] = await timed(direct, direct_repeats, warmup=1)
        # The API and the direct sums agree (whole years, registration dates; amendments/revocations aside).
        api = (await client.get(calls["cumulative"], headers=headers)).json()
        results["api_cumulative_total_fen"] = api["contract_amount_fen"]
        results["api_breakdown_source"] = (await client.get(calls["breakdown"], headers=headers)).json()["source"]

    await with_api(url, 5, body)
    for key in ("cumulative", "breakdown"):
        log(
            f"  {key:10s}: API p50 {pct(results['api_' + key], 50):7.2f} ms  p95 {pct(results['api_' + key], 95):7.2f} ms | "
            f"direct p50 {pct(results['direct_' + key], 50):8.1f} ms  p95 {pct(results['direct_' + key], 95):8.1f} ms"
        )
    return results


def import_csv(world: World, n: int) -> bytes:
    columns = [
        "registered_on",
        "office_id",
        "contract_no",
        "title",
        "signed_on",
        "kind",
        "subkind",
        "technical_field",
        "contract_amount_fen",
        "technology_amount_fen",
        "seller_name",
        "seller_credit_code",
        "seller_region_code",
        "seller_entity_type",
        "seller_ownership",
        "buyer_name",
        "buyer_credit_code",
        "buyer_region_code",
        "buyer_entity_type",
        "buyer_ownership",
        # The generated parties are nobody the directory knows: declared unverified, as the import requires.
        "seller_unverified",
        "buyer_unverified",
    ]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for c, _ in generate(world, n, 10_000_000):
        writer.writerow(
            [
                c["registered_on"].isoformat(),
                c["office_id"],
                f"IMP-{c['contract_no']}",
                c["title"],
                c["signed_on"].isoformat(),
                c["kind"],
                c["subkind"],
                c["technical_field"],
                c["contract_amount_fen"],
                c["technology_amount_fen"],
                c["seller_name"],
                c["seller_credit_code"] or "",
                c["seller_region_code"],
                c["seller_entity_type"],
                c["seller_ownership"] or "",
                c["buyer_name"],
                c["buyer_credit_code"] or "",
                c["buyer_region_code"],
                c["buyer_entity_type"],
                c["buyer_ownership"] or "",
                "true",
                "true",
            ]
        )
    return out.getvalue().encode()


async def import_time(url: str, body_bytes: bytes, log: Callable[[str], None]) -> dict[str, Any]:
    async def body(client: httpx.AsyncClient, tokens: Tokens, app: Any) -> dict[str, Any]:
        admin = str(new_id())
        headers = tokens.token(
            org=admin, org_kind="center", org_path=f"/{admin}/", org_verified=True, roles=["platform_admin"]
        )
        started = time.perf_counter()
        response = await client.post(
            "/contracts/import?report=problems", content=body_bytes, headers={**headers, "Content-Type": "text/csv"}
        )
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.text[:500]
        report = response.json()
        return {"import_s": elapsed, "imported": report["imported"], "failed": report["failed"]}

    result: dict[str, Any] = await with_api(url, 5, body)
    log(f"  import of {result['imported']:,} rows ({result['failed']} failed): {result['import_s']:.1f} s")
    return result


async def registrations(url: str, world: World, total: int, clients: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Submit `total` contracts in bulk (SQL), then register them through the API with `clients` concurrent workers.

    Each contract waits at the office of its seller's city (the realistic skew: Chengdu's office gets most), and
    is registered by a registrar of that office.
    """
    engine = create_engine(url, pool_size=4)
    work: list[tuple[uuid.UUID, uuid.UUID]] = []
    try:
        async with engine.begin() as conn:
            rows = []
            for c, _ in generate(world, total, 20_000_000):
                c.update(
                    status="submitted",
                    registration_no=None,
                    registered_on=None,
                    registered_at=None,
                    technology_amount_fen=None,
                    dedupe_key=f"reg-{c['id']}",
                    attachments=[],
                )
                rows.append(c)
                work.append((c["id"], c["office_id"]))
            await conn.execute(sa.insert(contracts_table), rows)
    finally:
        await engine.dispose()
    regions = {oid: city for city, oid in world.offices.items()}

    async def body(client: httpx.AsyncClient, tokens: Tokens, app: Any) -> dict[str, Any]:
        headers = {
            oid: tokens.token(
                org=str(oid),
                org_kind="registration_office",
                org_path=f"/{oid}/",
                org_region=regions[oid],
                org_verified=True,
                roles=["registrar"],
            )
            for oid in regions
        }
        queue: asyncio.Queue[tuple[uuid.UUID, uuid.UUID]] = asyncio.Queue()
        for item in work:
            queue.put_nowait(item)
        statuses: dict[int, int] = {}

        async def worker() -> None:
            while not queue.empty():
                cid, oid = queue.get_nowait()
                response = await client.post(f"/contracts/{cid}/register", json={}, headers=headers[oid])
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        # The statistics fold runs meanwhile, as the market's background process does in production.
        stop = asyncio.Event()
        folder = asyncio.create_task(
            fold_forever(sessionmaker=app.state.sessionmaker, interval=FOLD_INTERVAL, batch=FOLD_BATCH, stop=stop)
        )
        started = time.perf_counter()
        try:
            await asyncio.gather(*[worker() for _ in range(clients)])
        finally:
            elapsed = time.perf_counter() - started
            stop.set()
            await folder
        async with app.state.sessionmaker() as session:
            backlog = await stats_fold.unfolded(session=session)
        drain_started = time.perf_counter()
        await fold_all(sessionmaker=app.state.sessionmaker, batch=FOLD_BATCH, wait=True)
        return {
            "registrations": total,
            "seconds": elapsed,
            "per_second": total / elapsed,
            "statuses": statuses,
            "unfolded_at_end": backlog,
            "drain_seconds": time.perf_counter() - drain_started,
        }

    result: dict[str, Any] = await with_api(url, clients, body)
    result["exact"] = await exactness(url)
    result["gap_free"] = await gap_free(url)
    log(
        f"  {result['registrations']:,} registrations with {clients} clients: {result['per_second']:.0f}/s "
        f"(statuses {result['statuses']}); {result['unfolded_at_end']} deltas unfolded at the end, folded in "
        f"{result['drain_seconds']:.2f} s; rollup == ledger: {result['exact']}; serials gap-free: {result['gap_free']}"
    )
    return result


async def gap_free(url: str) -> bool:
    """Registration numbers of each office and year are 1..n without holes (the loaded ones included)."""
    engine = create_engine(url, pool_size=2)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.text(
                        "SELECT substr(registration_no, 1, 10), count(*), max(CAST(substr(registration_no, 11, 6) AS INTEGER)) "
                        "FROM contracts WHERE registration_no IS NOT NULL GROUP BY 1"
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    return all(int(n) == int(m) for _, n, m in rows)


async def exactness(url: str) -> bool:
    """Every level's totals (both grains) equal the ledger's totals."""
    engine = create_engine(url, pool_size=2)
    try:
        async with engine.connect() as conn:
            ledger = (
                await conn.execute(
                    sa.text(
                        "SELECT count(*), sum(count_delta), sum(contract_amount_delta_fen), sum(technology_amount_delta_fen) FROM contract_deltas"
                    )
                )
            ).one()
            levels = (
                await conn.execute(
                    sa.text(
                        "SELECT level, period < 10000, sum(contracts), sum(contract_amount_fen), sum(technology_amount_fen) "
                        "FROM contract_stat_cells GROUP BY level, period < 10000"
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    want = (int(ledger[1]), int(ledger[2]), int(ledger[3]))
    return len(levels) == 2 * len(LEVELS) and all((int(r[2]), int(r[3]), int(r[4])) == want for r in levels)


# -- driver ----------------------------------------------------------------------------------------------------------------


async def run_backend(backend: str, args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    world = World(random.Random(20211231))
    out: dict[str, Any] = {"backend": backend}
    tmp = Path(tempfile.mkdtemp(prefix="bench-stats-"))
    admin: asyncpg.Connection | None = None
    name = f"bench_stats_{uuid.uuid4().hex[:8]}"
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp / 'market.db'}"
    else:
        admin = await asyncpg.connect(args.pg_url)
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = "postgresql+asyncpg://" + args.pg_url.split("://", 1)[1].rsplit("/", 1)[0] + f"/{name}"
    try:
        log(f"[{backend}] loading {args.rows:,} contracts")
        out.update(await load(url, world, args.rows, log=log))
        log(f"[{backend}] latency ({args.repeats} API calls, {args.direct_repeats} direct queries each)")
        out["latency"] = await latency(url, args.repeats, args.direct_repeats, log)
        log(f"[{backend}] import of {args.import_rows:,} rows through the API")
        out["import"] = await import_time(url, import_csv(world, args.import_rows), log)
        if backend == "postgresql" and args.registrations:
            log(f"[{backend}] {args.registrations:,} registrations, {args.clients} concurrent clients")
            out["registrations"] = await registrations(url, world, args.registrations, args.clients, log)
        out["exact_after_all"] = await exactness(url)
        log(f"[{backend}] rollup == ledger at the end: {out['exact_after_all']}")
    finally:
        if admin is not None:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
    return out


def summary(results: list[dict[str, Any]]) -> str:
    lines = [
        "| backend | query | API p50 ms | API p95 ms | direct p50 ms | direct p95 ms | speed-up (p50) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lat = r["latency"]
        for q in ("cumulative", "breakdown"):
            a50, a95 = pct(lat[f"api_{q}"], 50), pct(lat[f"api_{q}"], 95)
            d50, d95 = pct(lat[f"direct_{q}"], 50), pct(lat[f"direct_{q}"], 95)
            lines.append(f"| {r['backend']} | {q} | {a50:.2f} | {a95:.2f} | {d50:.1f} | {d95:.1f} | {d50 / a50:.0f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="registered contracts to load")
    parser.add_argument("--import-rows", type=int, default=100_000)
    parser.add_argument(
        "--registrations", type=int, default=3_000, help="PostgreSQL: contracts registered concurrently"
    )
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=200, help="API calls per query")
    parser.add_argument("--direct-repeats", type=int, default=10, help="direct aggregations per query")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG))
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()

    def log(message: str) -> None:
        print(message, flush=True)

    log(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    )
    results = [asyncio.run(run_backend(b.strip(), args, log)) for b in args.backends.split(",") if b.strip()]
    log("")
    log(summary(results))
    for r in results:
        extra = (
            f", registrations {r['registrations']['per_second']:.0f}/s exact={r['registrations']['exact']}"
            if "registrations" in r
            else ""
        )
        log(
            f"{r['backend']}: load {r['load_s']:.0f} s, rollup build {r['rollup_build_s']:.0f} s ({int(r['cells']):,} cells), "
            f"import {r['import']['imported']:,} rows in {r['import']['import_s']:.1f} s{extra}, exact={r['exact_after_all']}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, default=str, indent=1))


if __name__ == "__main__":
    main()
