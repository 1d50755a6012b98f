"""Search benchmark: the embedded engine against a naive SQL ``LIKE '%q%'`` scan over the same rows.

    python -m bench.search                   # N = 10,000 and 100,000
    python -m bench.search --sizes 2000 --queries 50
    python -m bench.search --index-dir /tmp/bench-search   # keep the built indexes, reuse them next time

Documents are built from the real Chinese patent records in ../shared/data/patents (title + abstract), repeated
with variations (sentences of other records appended, filter values drawn at random) until N is reached; without
those files, generated text is used. Each query class runs sequentially from one client: latency percentiles
(p50/p95/p99) and queries per second; the LIKE baseline does the same work (count + first page, + facet
GROUP BYs when asked). Not a test: results go into docs/benchmarks.md by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import re
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.search.engines.base import IndexDocument, SearchQuery
from services.search.engines.embedded import EmbeddedEngine
from services.search.segment import Segmenter, segmenter
from shared.reference.technical_fields import technical_fields

PATENTS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "patents"
REGIONS = ["510104", "510107", "510100", "510700", "510600", "511100", "500112", "500103", "500000", "510500"]
MODES = ["transfer", "license", "equity", "joint_development"]
IP_TYPES = ["invention_patent", "utility_model", "software_copyright", "technical_secret"]
ONE_WORD = ["电池", "无人机", "传感器", "算法", "图像", "通信", "材料", "电机", "芯片", "基站", "电解质", "摄像头"]
# Words found in a fifth to a third of all patents: the worst case of ranking every match by BM25.
COMMON_WORDS = ["处理", "控制", "检测"]
TWO_WORDS = [
    "图像 识别",
    "锂电池 材料",
    "无人机 巡检",
    "数据 处理",
    "信号 发送",
    "控制 电路",
    "温度 传感器",
    "机器人 控制",
]
FACETS = ("technical_field", "region", "transfer_mode", "trl")
_SENTENCE = re.compile(r"[^。；]+[。；]?")


@dataclass
class Stats:
    """Latency of one query class."""

    p50: float
    p95: float
    p99: float
    qps: float
    mean: float

    @classmethod
    def of(cls, samples_ms: Sequence[float]) -> Stats:
        ordered = sorted(samples_ms)

        def pct(p: float) -> float:
            return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

        mean = statistics.fmean(ordered)
        return cls(pct(50), pct(95), pct(99), 1000.0 / mean if mean else float("inf"), mean)


def load_records() -> list[tuple[str, str]]:
    """(title, abstract) of the real patent records, or generated ones when the files are absent."""
    records: list[tuple[str, str]] = []
    if PATENTS.is_dir():
        for path in sorted(PATENTS.glob("*.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    row = json.loads(line)
                    records.append((row["title"], row.get("abstract") or ""))
    if records:
        return records
    rng = random.Random(7)
    words = [*ONE_WORD, "系统", "装置", "方法", "模块", "结构", "设备", "网络", "能源", "环保", "医疗"]
    return [
        ("一种" + "".join(rng.sample(words, 3)), "，".join("".join(rng.sample(words, 4)) for _ in range(8)) + "。")
        for _ in range(500)
    ]


def make_documents(n: int, records: list[tuple[str, str]]) -> list[IndexDocument]:
    """N documents: record i mod len, plus two sentences of other records so that repeats differ."""
    rng = random.Random(42)
    sentences = [s for _, abstract in records for s in _SENTENCE.findall(abstract) if len(s) > 8]
    fields = [f.code for f in technical_fields()]
    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp()
    docs: list[IndexDocument] = []
    for i in range(n):
        title, abstract = records[i % len(records)]
        if i >= len(records):
            title = f"{title}（改进型{i // len(records)}）"
            abstract = abstract + "".join(rng.sample(sentences, 2))
        low = rng.choice([None, rng.randrange(1, 500) * 1_000_000])
        region = rng.choice(REGIONS)
        docs.append(
            IndexDocument(
                kind="achievement",
                id=f"doc-{i}",
                version=1,
                title=title,
                keywords="",
                body=abstract,
                snippet_source=abstract[:4000],
                technical_field=rng.choice(fields),
                region_code=region,
                region_city=region if region.endswith("00") else region[:4] + "00",
                region_province=region[:2] + "0000",
                trl=rng.randint(1, 9),
                ip_type=rng.choice(IP_TYPES),
                modes=tuple(rng.sample(MODES, rng.randint(1, 2))),
                amount_min_fen=low,
                amount_max_fen=None if low is None else low * 2,
                owner_org_id=None,
                published_ts=base + i * 60,
                card={"title": title, "status": "published"},
            )
        )
    return docs


def build_like_table(path: Path, docs: Sequence[IndexDocument]) -> None:
    """The same rows in a plain table with the filter columns indexed, for the LIKE baseline."""
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE plain (id TEXT PRIMARY KEY, title TEXT, body TEXT, technical_field TEXT, region_city TEXT,"
        " trl INTEGER, modes TEXT, published_ts REAL);"
        "CREATE INDEX plain_field ON plain (technical_field); CREATE INDEX plain_pub ON plain (published_ts);"
    )
    db.executemany(
        "INSERT INTO plain VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                d.id,
                d.title,
                d.body,
                d.technical_field,
                d.region_city,
                d.trl,
                "|" + "|".join(d.modes) + "|",
                d.published_ts,
            )
            for d in docs
        ],
    )
    db.commit()
    db.close()


def like_search(db: sqlite3.Connection, words: list[str], filtered: bool, facets: bool) -> int:
    """What a naive implementation does: LIKE on title and body, count, first page, facet GROUP BYs."""
    where = " AND ".join("(title LIKE ? OR body LIKE ?)" for _ in words)
    params: list[Any] = [p for w in words for p in (f"%{w}%", f"%{w}%")]
    if filtered:
        where += " AND technical_field = ? AND trl >= ?"
        params += ["electronic_information", 4]
    db.execute(f"SELECT id, title FROM plain WHERE {where} ORDER BY published_ts DESC LIMIT 20", params).fetchall()
    total = int(db.execute(f"SELECT count(*) FROM plain WHERE {where}", params).fetchone()[0])
    if facets:
        for column in ("technical_field", "region_city", "trl"):
            db.execute(f"SELECT {column}, count(*) FROM plain WHERE {where} GROUP BY {column}", params).fetchall()
        for mode in MODES:  # modes are multi-valued: one count per value
            db.execute(f"SELECT count(*) FROM plain WHERE {where} AND modes LIKE ?", [*params, f"%|{mode}|%"])
    return total


async def time_engine(
    engine: EmbeddedEngine, seg: Segmenter, queries: list[str], filtered: bool, facets: bool, repeat: int
) -> tuple[Stats, float]:
    samples: list[float] = []
    totals: list[int] = []
    for i in range(repeat):
        q = queries[i % len(queries)]
        query = SearchQuery(
            kind="achievement",
            q=q,
            technical_field="electronic_information" if filtered else None,
            trl_min=4 if filtered else None,
            facets=FACETS if facets else (),
        )
        started = time.perf_counter()
        highlight = seg.highlight_words(seg.query_terms(q))
        result = await engine.search(query, highlight=highlight)
        samples.append((time.perf_counter() - started) * 1000)
        totals.append(result.total)
    return Stats.of(samples), statistics.fmean(totals)


def time_like(path: Path, queries: list[str], filtered: bool, facets: bool, repeat: int) -> Stats:
    db = sqlite3.connect(path)
    samples: list[float] = []
    for i in range(repeat):
        words = queries[i % len(queries)].split()
        started = time.perf_counter()
        like_search(db, words, filtered, facets)
        samples.append((time.perf_counter() - started) * 1000)
    db.close()
    return Stats.of(samples)


def size_of(directory: Path, predicate: Callable[[Path], bool]) -> int:
    return sum(p.stat().st_size for p in directory.iterdir() if predicate(p))


async def build(work: Path, n: int, records: list[tuple[str, str]], seg: Segmenter) -> float:
    """Index N documents into ``work/index`` and the LIKE table into ``work/like.sqlite``; the build seconds."""
    docs = make_documents(n, records)
    engine = EmbeddedEngine(work / "index", seg)
    await engine.open()
    started = time.perf_counter()
    for i in range(0, n, 1000):
        await engine.apply("achievement", docs[i : i + 1000], [])
    build_s = time.perf_counter() - started
    await engine.close()
    build_like_table(work / "like.sqlite", docs)
    return build_s


async def run(
    n: int, records: list[tuple[str, str]], repeat: int, like_repeat: int, index_dir: Path | None
) -> list[str]:
    seg = segmenter()
    # A kept index (--index-dir) is reused as built, with the build time measured then: for iterating on the
    # query path only. Numbers to publish come from a fresh build of the code being measured.
    work = Path(tempfile.mkdtemp(prefix=f"bench-search-{n}-")) if index_dir is None else index_dir / str(n)
    built = work / "built.json"
    try:
        if built.exists():
            build_s = float(json.loads(built.read_text())["build_s"])
            reused = " (reused index, built earlier)"
        else:
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            build_s = await build(work, n, records, seg)
            built.write_text(json.dumps({"build_s": build_s}))
            reused = ""
        engine = EmbeddedEngine(work / "index", seg)
        await engine.open()
        index_bytes = size_of(work / "index", lambda p: p.name.startswith("achievement-"))
        like_path = work / "like.sqlite"
        like_bytes = like_path.stat().st_size
        lines = [
            f"### N = {n:,}",
            "",
            f"- index build (segmentation + FTS5 insert, batches of 1,000): {build_s:.1f} s "
            f"({n / build_s:,.0f} docs/s){reused}; index size {index_bytes / 1e6:.1f} MB "
            f"(the plain table of the same rows: {like_bytes / 1e6:.1f} MB); load average "
            f"{' / '.join(f'{x:.2f}' for x in os.getloadavg())} (1 / 5 / 15 min) before the queries",
            "",
            "| query class | matches (mean) | embedded p50 / p95 / p99 ms | embedded QPS | LIKE p50 / p99 ms "
            "| LIKE QPS | speed-up (p50) |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        classes = [
            ("one word", ONE_WORD, False, False),
            ("one very common word", COMMON_WORDS, False, False),
            ("two words", TWO_WORDS, False, False),
            ("one word + filters", ONE_WORD, True, False),
            ("one word + facets", ONE_WORD, False, True),
            ("two words + filters + facets", TWO_WORDS, True, True),
        ]
        for name, queries, filtered, facets in classes:
            await engine.search(SearchQuery(kind="achievement", q=queries[0]), highlight=[])  # warm caches
            stats, matches = await time_engine(engine, seg, queries, filtered, facets, repeat)
            like = time_like(like_path, queries, filtered, facets, like_repeat)
            lines.append(
                f"| {name} | {matches:,.0f} | {stats.p50:.1f} / {stats.p95:.1f} / {stats.p99:.1f} | {stats.qps:,.0f} "
                f"| {like.p50:.1f} / {like.p99:.1f} | {like.qps:,.1f} | {like.p50 / stats.p50:,.0f}× |"
            )
            print(lines[-1], flush=True)
        await engine.close()
        lines.append(f"- load average after the queries: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
        return [*lines, ""]
    finally:
        if index_dir is None:
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=300, help="engine queries per class")
    parser.add_argument("--like-queries", type=int, default=24, help="LIKE queries per class (they are slow)")
    parser.add_argument(
        "--index-dir",
        type=Path,
        help="keep the built indexes in DIR/<N>/ and reuse them on the next run (to iterate on queries)",
    )
    args = parser.parse_args()
    records = load_records()
    print(
        f"# search benchmark — {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"{len(records)} source records ({'real patents' if PATENTS.is_dir() else 'generated'})",
        flush=True,
    )
    for n in args.sizes:
        for line in asyncio.run(run(n, records, args.queries, args.like_queries, args.index_dir)):
            print(line, flush=True)


if __name__ == "__main__":
    main()
