"""Match-alert benchmark: how long from a publish's commit until every saved search it matches is alerted?

    python -m bench.alerts                      # 10,000 saved searches, SQLite (the embedded default)
    python -m bench.alerts --searches 2000      # another size
    TEST_POSTGRES_URL=postgresql+asyncpg://… python -m bench.alerts --postgres   # market on PostgreSQL

The whole embedded stack runs in-process (auth, market, search; temporary databases). Saved searches are written
straight into market's table (their owners are synthetic users of 500 organizations): q is 1–2 words of a real
patent title (../shared/data/patents, segmented by search's own segmenter), with random filters (technical field,
region, TRL, price, IP type, transfer mode) and strategy (last / all); 2% are written from the published patent's
own title so that some match. One achievement (a real patent) is then created and published through market's
service (the same code as POST /market/achievements + /publish: the alert job is written in the publish's
transaction), and the clock runs from that commit until the alert loop (match_alerts.service.run_pending, as the
worker runs it) has recorded every hit and notification.

Baselines in the same run: the same publish with 0 saved searches (the job's fixed cost: percolation of nothing
plus the open demands' similarity call), and one plain GET /search/achievements. Not a test: results go into
docs/benchmarks.md by hand, with the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from services.auth.settings import AuthSettings
from services.embedded import create_app
from services.market.listings import service as listings_service
from services.market.listings.kinds import ACHIEVEMENT
from services.market.listings.schemas import AchievementCreate
from services.market.match_alerts import service as alerts
from services.market.notifications.models import Notification
from services.market.saved_searches.models import SavedSearch, SavedSearchHit
from services.market.settings import MarketSettings
from services.search.segment import segmenter
from services.search.settings import SearchSettings
from shared.clock import utcnow
from shared.ids import new_id
from shared.security import Principal

PATENTS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "patents" / "bdci2022_cn_patents.jsonl"
FIELDS = ["electronic_information", "advanced_manufacturing", "new_materials", "new_energy", "biomedicine"]
REGIONS = ["510000", "510100", "500000", "510700"]
IP_TYPES = ["invention_patent", "utility_model"]
MODES = ["transfer", "ordinary_license", "exclusive_license"]
OWN_SHARE = 0.02  # searches written from the published patent's own title


def load_patents() -> list[dict[str, Any]]:
    with PATENTS.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def search_rows(count: int, patents: list[dict[str, Any]], target: dict[str, Any], seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    words = segmenter()
    orgs = [uuid.uuid4() for _ in range(500)]
    now = utcnow()
    rows = []
    for i in range(count):
        source = target if rng.random() < OWN_SHARE else rng.choice(patents)
        keywords = words.keywords(source["title"]) or ["检测"]
        q = " ".join(rng.sample(keywords, min(len(keywords), rng.choice((1, 1, 2)))))
        org = orgs[i % len(orgs)]
        rows.append(
            {
                "id": new_id(),
                "owner_user_id": f"bench-user-{i % 2000}",
                "owner_org_id": org,
                "name": f"bench {i}",
                "kind": "achievement",
                "q": q,
                "technical_field": rng.choice(FIELDS) if rng.random() < 0.3 else None,
                "region": rng.choice(REGIONS) if rng.random() < 0.1 else None,
                "trl_min": rng.randint(3, 7) if rng.random() < 0.2 else None,
                "trl_max": None,
                "amount_min_fen": None,
                "amount_max_fen": rng.choice((10**7, 10**8, 10**9)) if rng.random() < 0.2 else None,
                "ip_type": rng.choice(IP_TYPES) if rng.random() < 0.1 else None,
                "mode": rng.choice(MODES) if rng.random() < 0.1 else None,
                "matching": rng.choice(("last", "all")),
                "channel": "inbox",
                "frequency": "instant",
                "active": True,
                "version": 1,
                "created_at": now,
                "updated_at": now,
                "last_alert_at": None,
                "alerts_sent": 0,
            }
        )
    return rows


def settings(folder: Path, postgres: str | None) -> tuple[AuthSettings, MarketSettings, SearchSettings]:
    common: dict[str, Any] = {
        "environment": "test",
        "data_dir": folder,
        "database_pool_size": 5,
        "log_level": "WARNING",
    }
    market_url = postgres or f"sqlite+aiosqlite:///{folder / 'market.db'}"
    return (
        AuthSettings(
            database_url=f"sqlite+aiosqlite:///{folder / 'auth.db'}",
            bootstrap_admin_email="admin@bench.test",
            bootstrap_admin_password="bench-admin-password-1",  # noqa: S106  (a throwaway in-process stack)
            password_hash_memory_kib=1024,
            password_hash_time_cost=1,
            password_hash_parallelism=1,
            **common,
        ),
        MarketSettings(database_url=market_url, **common),
        SearchSettings(database_url=f"sqlite+aiosqlite:///{folder / 'search.db'}", embedder="none", **common),
    )


def _market(app: FastAPI) -> FastAPI:
    for route in app.routes:
        if getattr(route, "path", None) == "/market":
            sub = route.app  # type: ignore[attr-defined]
            assert isinstance(sub, FastAPI)
            return sub
    raise LookupError("market")


async def publish(market: FastAPI, patent: dict[str, Any], org_id: uuid.UUID) -> uuid.UUID:
    """Create and publish an achievement through market's listing service (one transaction each, as a request)."""
    principal = Principal(
        subject="bench-university-user",
        token_id="bench",  # noqa: S106  (not a secret: the id of a token that does not exist)
        roles=frozenset({"member"}),
        org_id=org_id,
        org_kind="university",
        org_path=f"/{org_id}/",
        org_verified=True,
        org_region="510100",
    )
    payload = AchievementCreate.model_validate(
        {
            "title": patent["title"][:200],
            "summary": patent["abstract"][:1000],
            "keywords": [],
            "technical_field": "electronic_information",
            "ip_type": "invention_patent",
            "trl": 6,
            "transfer_modes": ["transfer"],
            "price": {"kind": "fixed", "min_fen": 5 * 10**7},
            "region_code": "510100",
        }
    )
    async with market.state.sessionmaker() as session, session.begin():
        row = await listings_service.create_listing(
            session=session, kind=ACHIEVEMENT, principal=principal, payload=payload
        )
    async with market.state.sessionmaker() as session, session.begin():
        await listings_service.transition_listing(
            session=session, kind=ACHIEVEMENT, principal=principal, listing_id=row.id, if_match="*", action="publish"
        )
    return row.id


async def count(market: FastAPI, model: Any) -> int:
    async with market.state.sessionmaker() as session:
        return int((await session.execute(sa.select(sa.func.count()).select_from(model))).scalar_one())


async def one_run(searches: int, patents: list[dict[str, Any]], seed: int, postgres: str | None) -> dict[str, Any]:
    rng = random.Random(seed)
    target = rng.choice(patents)
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        auth_settings, market_settings, search_settings = settings(folder, postgres)
        app = create_app(auth_settings=auth_settings, market_settings=market_settings, search_settings=search_settings)
        async with LifespanManager(app, startup_timeout=120) as manager:
            market = _market(app)
            rows = search_rows(searches, patents, target, seed)
            async with market.state.sessionmaker() as session, session.begin():
                for start in range(0, len(rows), 2000):
                    await session.execute(sa.insert(SavedSearch), rows[start : start + 2000])
            notifications_before = await count(market, Notification)
            await publish(market, target, uuid.uuid4())
            committed = time.perf_counter()
            ran = await alerts.run_pending(
                sessionmaker=market.state.sessionmaker,
                search=market.state.search_client,
                settings=market.state.settings,
            )
            elapsed = time.perf_counter() - committed
            await market.state.relay.drain()  # the plain search baseline searches the published patent
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                plain = []
                for _ in range(20):
                    started = time.perf_counter()
                    response = await client.get("/search/achievements", params={"q": target["title"][:20]})
                    plain.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200, response.text
            return {
                "saved_searches": searches,
                "jobs_run": ran,
                "hits": await count(market, SavedSearchHit),
                "notifications": await count(market, Notification) - notifications_before,
                "publish_commit_to_all_alerted_s": round(elapsed, 3),
                "plain_search_p50_ms": round(statistics.median(plain), 2),
            }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--searches", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument(
        "--postgres", action="store_true", help="market on TEST_POSTGRES_URL (market in a scratch database)"
    )
    args = parser.parse_args()
    server = os.environ.get("TEST_POSTGRES_URL") if args.postgres else None
    if args.postgres and not server:
        raise SystemExit("--postgres needs TEST_POSTGRES_URL")
    patents = load_patents()
    print(f"load average: {os.getloadavg()}", flush=True)
    for size in (0, args.searches):
        result = asyncio.run(run_on(server, size, patents, args.seed))
        print(json.dumps(result, ensure_ascii=False), flush=True)
    print(f"load average: {os.getloadavg()}", flush=True)


async def run_on(server: str | None, size: int, patents: list[dict[str, Any]], seed: int) -> dict[str, Any]:
    """One run; with a PostgreSQL server, market gets a scratch database of its own, dropped afterwards."""
    if server is None:
        return await one_run(size, patents, seed, None)
    url = make_url(server)
    name = f"bench_alerts_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        return await one_run(size, patents, seed, url.set(database=name).render_as_string(hide_password=False))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    main()
