"""The shared behavioral suite, part three: totals, facet caps and date/price order, on every engine.

These are the places where Meilisearch's defaults differ from the embedded engine (maxTotalHits caps totals at
1,000; facet values come alphabetically; ``sort`` ranks after the relevance rules) and the adapter's settings
must make the answers the same.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from services.search.documents.service import parse_fields, to_index_document
from services.search.engines.base import IndexDocument, SearchEngine, SearchQuery
from tests.search.factories import achievement_fields


def doc(title: str, **fields: Any) -> IndexDocument:
    raw = achievement_fields(title=title, summary=None, description=None, keywords=[], **fields)
    return to_index_document("achievement", str(uuid.uuid4()), 1, parse_fields("achievement", raw))


class TestTotals:
    async def test_totals_are_exact_past_a_thousand_matches(self, engine: SearchEngine) -> None:
        base = doc("批量登记的储能成果")
        docs = [dataclasses.replace(base, id=str(uuid.uuid4()), trl=1 + i % 9) for i in range(1150)]
        for start in range(0, len(docs), 500):
            await engine.apply("achievement", docs[start : start + 500], [])
        browse = await engine.search(SearchQuery(kind="achievement", limit=1), highlight=[])
        assert (browse.total, browse.total_is_exact) == (1150, True)
        words = await engine.search(SearchQuery(kind="achievement", q="储能", limit=1, offset=1000), highlight=[])
        assert (words.total, words.total_is_exact, len(words.hits)) == (1150, True, 1)
        filtered = await engine.search(SearchQuery(kind="achievement", q="储能", trl_min=9, limit=1), highlight=[])
        assert (filtered.total, filtered.total_is_exact) == (127, True)


class TestFacets:
    async def test_facet_values_are_the_hundred_most_frequent(self, engine: SearchEngine) -> None:
        # 105 values: "zzz" (3 documents) is alphabetically last but the most frequent; 99 values of 2 and 5 of 1.
        base = doc("分面计数测试")
        fields = ["zzz"] * 3 + [f"v{i:03d}" for i in range(99) for _ in range(2)] + [f"w{i:03d}" for i in range(5)]
        docs = [dataclasses.replace(base, id=str(uuid.uuid4()), technical_field=field) for field in fields]
        await engine.apply("achievement", docs, [])
        result = await engine.search(
            SearchQuery(kind="achievement", q="分面", facets=("technical_field",), limit=1), highlight=[]
        )
        counts = result.facets["technical_field"]
        assert len(counts) == 100
        assert counts["zzz"] == 3
        assert {value for value, count in counts.items() if count == 2} == {f"v{i:03d}" for i in range(99)}
        assert result.total == 206


class TestOrder:
    async def _corpus(self, engine: SearchEngine) -> dict[str, IndexDocument]:
        price = {"kind": "range", "max_fen": 90_000_000}
        docs = {
            # Both words, oldest, most expensive: first by relevance.
            "both": doc("储能电池热管理系统", published_at="2026-01-01T00:00:00Z", price={**price, "min_fen": 500}),
            # One word (the first), newest, cheapest.
            "one": doc("储能电站选址方法", published_at="2026-06-01T00:00:00Z", price={**price, "min_fen": 100}),
            "free": doc("储能材料", published_at="2026-03-01T00:00:00Z", price=None),
        }
        await engine.apply("achievement", list(docs.values()), [])
        return docs

    async def test_relevance_ranks_by_words_and_newest_by_date(self, engine: SearchEngine) -> None:
        docs = await self._corpus(engine)

        async def order(**options: Any) -> list[str]:
            result = await engine.search(SearchQuery(kind="achievement", q="储能 电池", **options), highlight=[])
            return [hit.id for hit in result.hits]

        assert (await order())[0] == docs["both"].id
        assert await order(sort="newest") == [docs["one"].id, docs["free"].id, docs["both"].id]
        # Lowest price first, documents without a price last.
        assert await order(sort="price") == [docs["one"].id, docs["both"].id, docs["free"].id]
        assert await order(sort="price", limit=1, offset=2) == [docs["free"].id]

    async def test_ties_go_to_the_document_written_last(self, engine: SearchEngine) -> None:
        first = doc("同日发布的成果甲", published_at="2026-02-01T00:00:00Z")
        second = doc("同日发布的成果乙", published_at="2026-02-01T00:00:00Z")
        await engine.apply("achievement", [first], [])
        await engine.apply("achievement", [second], [])
        result = await engine.search(SearchQuery(kind="achievement"), highlight=[])
        assert [hit.id for hit in result.hits] == [second.id, first.id]
