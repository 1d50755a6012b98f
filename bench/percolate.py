"""Percolation benchmark: one listing against 10,000 saved searches, beside a search per saved search.

    python -m bench.percolate                    # 10,000 saved searches, 20 listings, baseline 10,000 searches
    python -m bench.percolate --queries 2000 --listings 5 --baseline 500

Saved searches take 1 to 3 words from the titles of the real patent records (../shared/data/patents), with
filters on about a third and both strategies. Listings are other patents, as ingestion documents. For each
listing the search service's work is timed as market's client sends it: requests of 1000 queries, each request
body parsed and validated (PercolateRequest, as FastAPI does) then percolated (services.search.percolate.service)
— HTTP transport excluded. The first listing runs with an empty query-word cache (cold); the others reuse it, as
a running service does. Baseline, same run: the same saved searches run as plain searches (the embedded engine,
first page of 20) over an index of all the patents — what "search once per saved search" would cost for one
listing. Not a test: results go into docs/benchmarks.md by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from services.search.documents.schemas import DocumentOperation
from services.search.documents.service import parse_fields, to_index_document
from services.search.engines.embedded import EmbeddedEngine
from services.search.percolate import service
from services.search.percolate.schemas import MAX_QUERIES, PercolateQuery, PercolateRequest
from services.search.query.service import run_search
from services.search.segment import segmenter
from shared.reference.technical_fields import technical_fields

PATENTS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "patents"
REGIONS = ["510000", "500000", "510100", "510700", "510104", "500112"]
MODES = ["transfer", "license", "equity"]


def load_patents() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted(PATENTS.glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows


def listing(patent: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """An achievement's ingestion document made of a patent (as market's relay sends it)."""
    low = rng.randrange(1, 200) * 1_000_000
    fields = {
        "title": patent["title"],
        "summary": (patent.get("abstract") or "")[:300],
        "description": patent.get("abstract"),
        "keywords": [],
        "technical_field": rng.choice([f.code for f in technical_fields()]),
        "region_code": rng.choice(["510104", "510107", "510722", "500112"]),
        "trl": rng.randint(1, 9),
        "ip_type": "invention_patent",
        "transfer_modes": rng.sample(MODES, 2),
        "price": {"kind": "range", "min_fen": low, "max_fen": low * 2},
        "owner_org_name": patent.get("applicant"),
        "status": "published",
        "published_at": "2026-11-01T00:00:00Z",
    }
    return {"op": "upsert", "kind": "achievement", "id": str(uuid.uuid4()), "version": 1, "fields": fields}


def saved_searches(n: int, patents: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """n saved searches as market sends them: words from patent titles, some filters, both strategies."""
    words = [[t.word for t in segmenter().query_terms(p["title"])] for p in patents]
    words = [w for w in words if w]
    fields = [f.code for f in technical_fields()]
    out = []
    for i in range(n):
        own = rng.choice(words)
        query: dict[str, Any] = {
            "key": f"saved-{i}",
            "q": " ".join(rng.sample(own, min(len(own), rng.randint(1, 3)))),
            "matching": rng.choice(["last", "all"]),
        }
        if rng.random() < 0.3:
            query["technical_field"] = rng.choice(fields)
        if rng.random() < 0.2:
            query["region"] = rng.choice(REGIONS)
        if rng.random() < 0.15:
            query["trl_min"] = rng.randint(1, 6)
        if rng.random() < 0.15:
            query["amount_max"] = rng.randrange(1, 300) * 1_000_000
        out.append(query)
    return out


def percolate_listing(document: dict[str, Any], queries: list[dict[str, Any]]) -> tuple[float, int]:
    """(milliseconds, matches) of one listing against every saved search, in requests of MAX_QUERIES."""
    started = time.perf_counter()
    matched = 0
    for start in range(0, len(queries), MAX_QUERIES):
        raw = json.dumps({"document": document, "queries": queries[start : start + MAX_QUERIES]}).encode()
        body = PercolateRequest.model_validate_json(raw)
        found = service.percolate(
            segmenter=segmenter(), kind="achievement", document=body.document, queries=body.queries
        )
        matched += len(found)
    return (time.perf_counter() - started) * 1000, matched


async def baseline(patents: list[dict[str, Any]], queries: list[dict[str, Any]], rng: random.Random) -> list[float]:
    """Milliseconds of each saved search run as a plain search over an index of all the patents."""
    with tempfile.TemporaryDirectory() as directory:
        engine = EmbeddedEngine(Path(directory), segmenter())
        await engine.open()
        docs = []
        for patent in patents:
            op = DocumentOperation.model_validate(listing(patent, rng))
            fields = parse_fields("achievement", op.fields or {})
            docs.append(to_index_document("achievement", str(op.id), 1, fields))
        await engine.apply("achievement", docs, [])
        samples = []
        for query in service.search_queries("achievement", [PercolateQuery.model_validate(q) for q in queries]):
            started = time.perf_counter()
            await run_search(engine=engine, segmenter=segmenter(), query=query)
            samples.append((time.perf_counter() - started) * 1000)
        await engine.close()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=10_000, help="saved searches")
    parser.add_argument("--listings", type=int, default=20, help="listings percolated")
    parser.add_argument("--baseline", type=int, default=10_000, help="plain searches of the baseline (0: none)")
    args = parser.parse_args()
    rng = random.Random(14)
    patents = load_patents()
    rng.shuffle(patents)
    listings = [listing(p, rng) for p in patents[: args.listings]]
    queries = saved_searches(args.queries, patents[args.listings :], rng)
    segmenter()  # jieba's dictionary loads once per process, before any timing
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print(f"# {len(patents)} patents, {len(queries)} saved searches, {len(listings)} listings")
    cold, cold_matches = percolate_listing(listings[0], queries)
    print(f"percolate, cold query-word cache: {cold:.0f} ms ({cold_matches} matches)")
    warm = [percolate_listing(doc, queries) for doc in listings[1:]]
    times = sorted(ms for ms, _ in warm)
    if times:
        print(
            f"percolate, warm: p50 {statistics.median(times):.0f} ms, max {times[-1]:.0f} ms, "
            f"matches per listing p50 {statistics.median(m for _, m in warm):.0f}"
        )
    if args.baseline:
        samples = asyncio.run(baseline(patents, queries[: args.baseline], rng))
        total = sum(samples)
        print(
            f"baseline, {len(samples)} plain searches: total {total:.0f} ms, per search p50 "
            f"{statistics.median(samples):.2f} ms"
        )


if __name__ == "__main__":
    main()
