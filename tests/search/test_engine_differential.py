"""The embedded engine and the Meilisearch adapter (against FakeMeilisearch) answer random searches alike.

Random corpora of Chinese titles and summaries, random queries (whole words, glued words, a half-typed last word),
every matching strategy: both engines must match the same documents, count the same total and facets, and put
every document in the same words bucket (how many query words it holds, from the order of the strategy). Order
inside a bucket is each engine's own relevance (BM25 vs Meilisearch's rules) and is not compared.
"""

from __future__ import annotations

import math
import random
import uuid
from pathlib import Path

import pytest

from services.search.documents.service import parse_fields, to_index_document
from services.search.engines.base import IndexDocument, MatchingStrategy, SearchHit, SearchQuery
from services.search.engines.embedded import EmbeddedEngine
from services.search.engines.meili import MeiliEngine, make_client
from services.search.engines.meili_client import RetryPolicy
from services.search.segment import segmenter
from tests.search.factories import achievement_fields
from tests.search.fake_meilisearch import FakeMeilisearch

WORDS = [
    "无人机", "巡检", "图像", "处理", "电池", "锂电池", "储能", "光伏", "组件", "清洗", "机器人", "传感器", "光纤",
    "裂缝", "监测", "桥梁", "水稻", "育种", "污水", "过滤", "装置", "系统", "待处理", "安装简单", "石墨烯", "薄膜",
]  # fmt: skip
FIELDS = ["new_energy", "environment", "agriculture", "advanced_manufacturing"]


def corpus(rng: random.Random) -> list[IndexDocument]:
    out = []
    for _ in range(40):
        fields = achievement_fields(
            title="".join(rng.sample(WORDS, rng.randint(1, 3))),
            summary="，".join(rng.sample(WORDS, rng.randint(0, 4))) or None,
            description=None,
            keywords=[],
            technical_field=rng.choice(FIELDS),
        )
        out.append(to_index_document("achievement", str(uuid.uuid4()), 1, parse_fields("achievement", fields)))
    return out


def query(rng: random.Random) -> str:
    words = rng.sample(WORDS, rng.randint(1, 3))
    text = " ".join(words) if rng.random() < 0.7 else "".join(words)
    return text[:-1] if rng.random() < 0.3 and len(text) > 2 else text


def buckets(hits: list[SearchHit], groups: int, engine: str) -> dict[str, int]:
    """Each hit's words bucket from its 0..1 score: the embedded engine scores ((k - 1) + relevance) / g, and
    Meilisearch's words rule (first of the relevance rules) gives a score in ((k - 1) / g, k / g]."""
    out = {}
    for hit in hits:
        assert hit.score is not None
        position = hit.score * groups
        out[hit.id] = min(int(position + 1e-9) + 1, groups) if engine == "embedded" else math.ceil(position - 1e-9)
    return out


@pytest.mark.parametrize("seed", [1, 2])
async def test_both_engines_match_count_and_bucket_alike(seed: int, tmp_path: Path) -> None:
    rng = random.Random(seed)
    fake = FakeMeilisearch()
    client = make_client(
        "http://meili.fake", fake.api_key, transport=fake.transport(), retry=RetryPolicy(2, 0.0), poll_max_s=0.001
    )
    meili = MeiliEngine(client, segmenter(), prefix="diff_", task_timeout_ms=5000)
    embedded = EmbeddedEngine(tmp_path / "index", segmenter())
    docs = corpus(rng)
    for engine in (meili, embedded):
        await engine.open()
        await engine.apply("achievement", docs, [])
    strategies: tuple[MatchingStrategy, ...] = ("last", "all", "frequency")
    for _ in range(15):
        q = query(rng)
        groups = len(segmenter().query_terms(q))
        for strategy in strategies:
            search = SearchQuery(kind="achievement", q=q, matching=strategy, limit=100, facets=("technical_field",))
            ours, theirs = await embedded.search(search, highlight=[]), await meili.search(search, highlight=[])
            assert {h.id for h in ours.hits} == {h.id for h in theirs.hits}, (q, strategy)
            assert (ours.total, ours.facets) == (theirs.total, theirs.facets), (q, strategy)
            if strategy == "last":
                assert buckets(ours.hits, groups, "embedded") == buckets(theirs.hits, groups, "meilisearch"), q
            order = list(buckets(theirs.hits, groups, "meilisearch").values())
            assert order == sorted(order, reverse=True), (q, strategy)
    await meili.close()
    await embedded.close()
