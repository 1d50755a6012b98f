"""The shared behavioral suite, part two: matching strategies, prefixes, stop words, exclusions, scores, hybrid.

Every case runs on every engine of the `engine` fixture (tests/search/conftest.py) and states Meilisearch's
documented semantics; the embedded engine implements them in services/search/engines/ranking.py.
"""

from __future__ import annotations

import dataclasses
import math
import uuid
from typing import Any

from services.search.documents.service import parse_fields, to_index_document
from services.search.engines.base import IndexDocument, Kind, SearchEngine, SearchQuery, SearchResult
from tests.search.factories import achievement_fields


def doc(
    title: str, text: str = "", *, owner: str | None = None, vector: tuple[float, ...] | None = None, **fields: Any
) -> IndexDocument:
    raw = achievement_fields(title=title, summary=text or None, description=None, keywords=[], **fields)
    if owner is not None:
        raw["owner_org_id"] = owner
    made = to_index_document("achievement", str(uuid.uuid4()), 1, parse_fields("achievement", raw))
    return dataclasses.replace(made, vector=vector)


async def run(engine: SearchEngine, q: str, kind: Kind = "achievement", **options: Any) -> SearchResult:
    return await engine.search(SearchQuery(kind=kind, q=q, limit=options.pop("limit", 100), **options), highlight=[])


async def ids(engine: SearchEngine, q: str, **options: Any) -> list[str]:
    return [hit.id for hit in (await run(engine, q, **options)).hits]


def unit(*values: float) -> tuple[float, ...]:
    norm = math.sqrt(sum(v * v for v in values))
    return tuple(v / norm for v in values)


class TestMatchingStrategies:
    async def _corpus(self, engine: SearchEngine) -> dict[str, IndexDocument]:
        docs = {
            "both": doc("无人机巡检图像处理方法", "输电线路缺陷识别"),
            "first": doc("无人机电池快速更换装置", "自动更换电池"),
            "second": doc("图像去噪算法", "低照度图像增强"),
            "neither": doc("水稻育种方法", "提高产量"),
        }
        await engine.apply("achievement", list(docs.values()), [])
        return docs

    async def test_last_ranks_documents_with_every_word_first_then_drops_words_from_the_end(
        self, engine: SearchEngine
    ) -> None:
        docs = await self._corpus(engine)
        result = await run(engine, "无人机 图像")
        assert [h.id for h in result.hits] == [docs["both"].id, docs["first"].id]
        assert result.total == 2
        # The first word is never dropped: a document holding only the second word is no match.
        assert docs["second"].id not in [h.id for h in result.hits]

    async def test_all_keeps_only_documents_with_every_word(self, engine: SearchEngine) -> None:
        docs = await self._corpus(engine)
        result = await run(engine, "无人机 图像", matching="all")
        assert ([h.id for h in result.hits], result.total) == ([docs["both"].id], 1)

    async def test_frequency_drops_the_most_frequent_word_first(self, engine: SearchEngine) -> None:
        docs = await self._corpus(engine)
        extra = doc("无人机集群编队控制", "多架无人机协同")
        await engine.apply("achievement", [extra], [])
        # 无人机 is in three documents, 图像 in two: 无人机 is dropped first, so documents with 图像 stay.
        found = await ids(engine, "无人机 图像", matching="frequency")
        assert found == [docs["both"].id, docs["second"].id]
        # With `last`, 图像 (the last word) is dropped first instead.
        assert set(await ids(engine, "无人机 图像")) == {docs["both"].id, docs["first"].id, extra.id}

    async def test_more_matching_words_rank_higher_whatever_the_field(self, engine: SearchEngine) -> None:
        three = doc("智能传感器", "用于桥梁 裂缝 监测")
        two = doc("桥梁裂缝修补材料", "高强度")
        await engine.apply("achievement", [two, three], [])
        assert await ids(engine, "桥梁 裂缝 监测") == [three.id, two.id]

    async def test_facets_and_totals_count_every_match_of_the_strategy(self, engine: SearchEngine) -> None:
        a = doc("光伏组件清洗机器人", "光伏 清洗", technical_field="new_energy")
        b = doc("光伏逆变器", "散热", technical_field="electronic_information")
        await engine.apply("achievement", [a, b], [])
        result = await run(engine, "光伏 清洗", facets=("technical_field",))
        assert result.total == 2
        assert result.facets == {"technical_field": {"new_energy": 1, "electronic_information": 1}}
        strict = await run(engine, "光伏 清洗", matching="all", facets=("technical_field",))
        assert (strict.total, strict.facets) == (1, {"technical_field": {"new_energy": 1}})

    async def test_sorting_by_date_sorts_every_match(self, engine: SearchEngine) -> None:
        old = doc("无人机图像采集", published_at="2025-01-01T00:00:00Z")
        new = doc("无人机电池", published_at="2026-06-01T00:00:00Z")
        await engine.apply("achievement", [old, new], [])
        assert await ids(engine, "无人机 图像", sort="newest") == [new.id, old.id]
        assert await ids(engine, "无人机 图像") == [old.id, new.id]


class TestQueryWords:
    async def test_a_trailing_partial_word_matches_as_a_prefix(self, engine: SearchEngine) -> None:
        a = doc("锂电池极片缺陷在线检测", "涂布极片")
        await engine.apply("achievement", [a], [])
        assert await ids(engine, "极片缺") == [a.id]
        assert await ids(engine, "锂电池 缺", matching="all") == [a.id]
        # Followed by a space the word is whole: 缺 alone is not in the index.
        assert await ids(engine, "锂电池 缺 ", matching="all") == []

    async def test_words_without_topic_do_not_decide_the_match(self, engine: SearchEngine) -> None:
        a = doc("工业产品表面缺陷视觉检测方法", "基于图像识别的表面缺陷检测")
        await engine.apply("achievement", [a], [])
        sentence = "寻求图像识别方面的技术合作，用于工业产品表面缺陷检测"
        assert await ids(engine, sentence, matching="all") == [a.id]

    async def test_two_titles_in_one_query_find_the_first_title_by_default(self, engine: SearchEngine) -> None:
        a = doc("隧道衬砌裂缝智能检测系统")
        b = doc("固态锂电池电解质材料")
        await engine.apply("achievement", [a, b], [])
        assert await ids(engine, "隧道衬砌裂缝智能检测系统 固态锂电池电解质材料") == [a.id]

    async def test_frequency_drops_words_of_equal_frequency_together_and_unknown_words_first(
        self, engine: SearchEngine
    ) -> None:
        a = doc("隧道衬砌裂缝智能检测系统")
        b = doc("固态锂电池电解质材料")
        await engine.apply("achievement", [a, b], [])
        # Every known word is in one document: they form one group, the last one, which is never dropped.
        assert await ids(engine, "隧道 锂电池", matching="frequency") == []
        # A word no document holds counts as the most frequent: dropped first, it does not empty the result.
        assert await ids(engine, "隧道 量子纠缠", matching="frequency") == [a.id]
        assert await ids(engine, "量子纠缠 隧道") == []  # with `last` the first word is mandatory

    async def test_a_title_query_also_shows_related_documents(self, engine: SearchEngine) -> None:
        exact = doc("一种基于深度学习的无人机图像识别方法")
        related = doc("深度学习遥感图像分类方法")  # shares the first word, not the second
        await engine.apply("achievement", [exact, related], [])
        assert await ids(engine, "一种基于深度学习的无人机图像识别方法") == [exact.id, related.id]


class TestExclusionsAndScores:
    async def test_an_organization_and_ids_can_be_left_out(self, engine: SearchEngine) -> None:
        owner = str(uuid.uuid4())
        mine = doc("石墨烯导热膜", owner=owner)
        other = doc("石墨烯电极材料")
        third = doc("石墨烯涂料")
        await engine.apply("achievement", [mine, other, third], [])
        assert set(await ids(engine, "石墨烯", exclude_owner_org_id=owner)) == {other.id, third.id}
        assert await ids(engine, "石墨烯", exclude_owner_org_id=owner, exclude_ids=(other.id,)) == [third.id]
        result = await run(engine, "", exclude_ids=(mine.id, other.id))
        assert ([h.id for h in result.hits], result.total) == ([third.id], 1)

    async def test_scores_are_between_zero_and_one_and_follow_the_order(self, engine: SearchEngine) -> None:
        await engine.apply(
            "achievement",
            [doc("桥梁裂缝监测"), doc("桥梁检测", "裂缝"), doc("桥梁养护"), doc("道路养护", "桥梁")],
            [],
        )
        scores = [h.score for h in (await run(engine, "桥梁 裂缝 监测")).hits]
        assert len(scores) == 4
        assert all(s is not None and 0 < s <= 1 for s in scores)
        assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]

    async def test_hits_name_the_query_words_they_hold(self, engine: SearchEngine) -> None:
        a = doc("桥梁裂缝监测", "基于光纤传感")
        await engine.apply("achievement", [a], [])
        (hit,) = (await run(engine, "光纤 裂缝 隧道")).hits
        assert hit.matched_terms == ("光纤", "裂缝")


class TestHybrid:
    async def _corpus(self, engine: SearchEngine) -> dict[str, IndexDocument]:
        docs = {
            # Vectors stand for meaning: x = vision, y = batteries, z = farming.
            "vision": doc("表面缺陷视觉检测", vector=unit(1, 0.1, 0)),
            "camera": doc("工业相机成像装置", vector=unit(0.9, 0, 0.2)),
            "battery": doc("锂电池缺陷检测", vector=unit(0.1, 1, 0)),
            "rice": doc("水稻种植方法", vector=unit(0, 0, 1)),
            "pending": doc("机器视觉缺陷识别"),  # no vector yet: found by words only
        }
        await engine.apply("achievement", list(docs.values()), [])
        return docs

    async def test_ratio_zero_is_lexical_search(self, engine: SearchEngine) -> None:
        docs = await self._corpus(engine)
        lexical = await ids(engine, "缺陷")
        assert await ids(engine, "缺陷", semantic_ratio=0.0, vector=unit(0, 0, 1)) == lexical
        assert docs["rice"].id not in lexical

    async def test_ratio_one_ranks_by_meaning_alone(self, engine: SearchEngine) -> None:
        docs = await self._corpus(engine)
        result = await run(engine, "缺陷", semantic_ratio=1.0, vector=unit(1, 0, 0))
        order = [h.id for h in result.hits]
        assert order[:2] == [docs["vision"].id, docs["camera"].id]
        # A document without words in common is found by meaning; one without a vector by its words.
        assert docs["camera"].id in order
        assert docs["pending"].id in order
        assert result.total == 5

    async def test_a_blend_keeps_strong_word_matches_and_adds_close_meanings(self, engine: SearchEngine) -> None:
        docs = await self._corpus(engine)
        result = await run(engine, "缺陷 检测", semantic_ratio=0.5, vector=unit(1, 0, 0), limit=3)
        order = [h.id for h in result.hits]
        assert docs["vision"].id == order[0]
        assert docs["camera"].id in order  # no shared word, close meaning
        assert docs["rice"].id not in order
        assert all(h.score is not None and 0 < h.score <= 1 for h in result.hits)

    async def test_filters_and_exclusions_apply_to_the_semantic_side(self, engine: SearchEngine) -> None:
        docs = await self._corpus(engine)
        found = await ids(engine, "缺陷", semantic_ratio=1.0, vector=unit(1, 0, 0), exclude_ids=(docs["camera"].id,))
        assert docs["camera"].id not in found
        assert docs["vision"].id in found
