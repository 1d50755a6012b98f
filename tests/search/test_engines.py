"""One behavioral suite for every engine: the embedded one always, Meilisearch when MEILI_URL is set.

Without MEILI_URL the Meilisearch runs skip (they need a live server); its adapter's requests are checked against
a fake in test_meili_adapter.py instead.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from services.search.documents.service import parse_fields, to_index_document
from services.search.engines import embedded as embedded_module
from services.search.engines.base import IndexDocument, Kind, SearchEngine, SearchQuery
from services.search.engines.embedded import EmbeddedEngine
from services.search.segment import segmenter
from tests.search.factories import achievement_fields, demand_fields


def doc(kind: Kind = "achievement", *, id: str | None = None, version: int = 1, **fields: Any) -> IndexDocument:
    raw = achievement_fields(**fields) if kind == "achievement" else demand_fields(**fields)
    return to_index_document(kind, id or str(uuid.uuid4()), version, parse_fields(kind, raw))


async def found(engine: SearchEngine, q: str = "", kind: Kind = "achievement", **filters: Any) -> list[str]:
    result = await engine.search(SearchQuery(kind=kind, q=q, limit=100, **filters), highlight=[])
    return [hit.id for hit in result.hits]


class TestEngineBehaviour:
    async def test_two_character_words_inside_longer_words(self, engine: SearchEngine) -> None:
        pending = doc(title="待处理订单的自动分拣装置", summary="自动分拣", description=None)
        easy = doc(title="机器人关节减速器", summary="结构紧凑，安装简单。", description=None)
        other = doc(title="水稻育种方法", summary="提高产量", description=None)
        await engine.apply("achievement", [pending, easy, other], [])
        assert await found(engine, "处理") == [pending.id]
        assert await found(engine, "简单") == [easy.id]
        assert await found(engine, "待处理") == [pending.id]

    async def test_filters_and_facets(self, engine: SearchEngine) -> None:
        a = doc(title="光伏组件清洗机器人", technical_field="new_energy", region_code="510104", trl=7)
        b = doc(title="光伏逆变器散热结构", technical_field="new_energy", region_code="500112", trl=4)
        c = doc(title="光伏玻璃镀膜材料", technical_field="new_materials", region_code="510700", trl=5)
        await engine.apply("achievement", [a, b, c], [])
        assert set(await found(engine, "光伏", region="510000")) == {a.id, c.id}
        assert await found(engine, "光伏", technical_field="new_energy", trl_min=5) == [a.id]
        result = await engine.search(
            SearchQuery(kind="achievement", q="光伏", facets=("technical_field", "region")), highlight=[]
        )
        assert result.total == 3
        assert result.facets["technical_field"] == {"new_energy": 2, "new_materials": 1}
        assert result.facets["region"] == {"510100": 1, "500100": 1, "510700": 1}

    async def test_filters_and_facets_combined(self, engine: SearchEngine) -> None:
        a = doc(title="锂电池隔膜", technical_field="new_energy", trl=7, transfer_modes=["license"], price=None)
        b = doc(title="锂电池回收", technical_field="new_energy", trl=3, transfer_modes=["transfer", "license"])
        c = doc(title="锂电池电解液", technical_field="new_materials", trl=8, transfer_modes=["equity"])
        d = doc(title="钠电池正极", technical_field="new_energy", trl=9)
        await engine.apply("achievement", [a, b, c, d], [])
        query = SearchQuery(
            kind="achievement", q="锂电池", trl_min=5, facets=("technical_field", "transfer_mode", "trl"), limit=1
        )
        result = await engine.search(query, highlight=[])
        assert result.total == 2
        assert result.total_is_exact
        assert result.facets == {
            "technical_field": {"new_energy": 1, "new_materials": 1},
            "transfer_mode": {"license": 1, "equity": 1},
            "trl": {"7": 1, "8": 1},
        }
        by_mode = await engine.search(
            SearchQuery(kind="achievement", q="锂电池", mode="license", facets=("trl",)), highlight=[]
        )
        assert {h.id for h in by_mode.hits} == {a.id, b.id}
        assert by_mode.facets == {"trl": {"7": 1, "3": 1}}
        # The same filters and facets without q count over every document.
        browsing = await engine.search(
            SearchQuery(kind="achievement", technical_field="new_energy", facets=("trl",)), highlight=[]
        )
        assert browsing.total == 3
        assert browsing.facets == {"trl": {"3": 1, "7": 1, "9": 1}}

    async def test_facets_follow_updates_and_deletes(self, engine: SearchEngine) -> None:
        a = doc(title="光纤传感器", technical_field="electronic_information", region_code="510104")
        b = doc(title="压力传感器", technical_field="advanced_manufacturing", region_code="500112")
        await engine.apply("achievement", [a, b], [])
        query = SearchQuery(kind="achievement", q="传感器", facets=("technical_field", "region"))
        before = await engine.search(query, highlight=[])
        assert before.facets["technical_field"] == {"electronic_information": 1, "advanced_manufacturing": 1}
        moved = doc(id=a.id, version=2, title="光纤传感器", technical_field="new_materials", region_code="510704")
        await engine.apply("achievement", [moved], [(b.id, 1)])
        after = await engine.search(query, highlight=[])
        assert after.total == 1
        assert after.facets == {"technical_field": {"new_materials": 1}, "region": {"510700": 1}}
        assert await found(engine, "传感器", technical_field="electronic_information") == []

    async def test_snippets_highlight_sub_words(self, engine: SearchEngine) -> None:
        await engine.apply("achievement", [doc(summary="针对待处理的<b>工业</b>废水", description=None)], [])
        (hit,) = (await engine.search(SearchQuery(kind="achievement", q="处理"), highlight=["处理"])).hits
        assert hit.snippet == "针对待<em>处理</em>的&lt;b&gt;工业&lt;/b&gt;废水"

    async def test_upsert_replaces_and_delete_removes(self, engine: SearchEngine) -> None:
        first = doc(id="11111111-1111-1111-1111-111111111111", version=1, title="初版标题石墨烯")
        await engine.apply("achievement", [first], [])
        second = doc(id=first.id, version=2, title="修订标题碳纳米管")
        await engine.apply("achievement", [second], [])
        assert await found(engine, "石墨烯") == []
        assert await found(engine, "纳米管") == [first.id]
        assert await engine.indexed_versions("achievement") == {first.id: 2}
        await engine.apply("achievement", [], [(first.id, 3)])
        assert await found(engine, "纳米管") == []
        assert await engine.indexed_versions("achievement") == {}

    async def test_kinds_are_separate_indexes(self, engine: SearchEngine) -> None:
        need = doc("demand", title="寻求芯片散热方案")
        offer = doc(title="芯片封装工艺")
        await engine.apply("demand", [need], [])
        await engine.apply("achievement", [offer], [])
        assert await found(engine, "芯片", kind="demand") == [need.id]
        assert await found(engine, "芯片") == [offer.id]

    async def test_rebuild_swaps_in_the_new_index(self, engine: SearchEngine) -> None:
        old = doc(title="旧索引里的成果")
        await engine.apply("achievement", [old], [])
        builder = await engine.begin_rebuild("achievement")
        fresh = doc(title="新索引里的成果")
        await builder.apply([fresh], [])
        assert await found(engine, "成果") == [old.id]  # the live index answers while the new one is built
        await builder.commit()
        assert await found(engine, "成果") == [fresh.id]
        assert await engine.indexed_versions("achievement") == {fresh.id: 1}

    async def test_an_aborted_rebuild_changes_nothing(self, engine: SearchEngine) -> None:
        live = doc(title="保留的成果")
        await engine.apply("achievement", [live], [])
        builder = await engine.begin_rebuild("achievement")
        await builder.apply([doc(title="丢弃的成果")], [])
        await builder.abort()
        assert await found(engine, "成果") == [live.id]


class TestEmbeddedRanking:
    async def test_title_matches_outrank_body_matches(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        engine = EmbeddedEngine(tmp_path / "index", segmenter())
        await engine.open()
        in_title = [doc(title=f"传感器标定方法{i}", summary="一种方法", description=None) for i in range(3)]
        in_body = [doc(title=f"测量装置{i}", summary="包括传感器", description=None) for i in range(3)]
        await engine.apply("achievement", [*in_body, *in_title], [])
        exact = await found(engine, "传感器")
        assert set(exact[:3]) == {d.id for d in in_title}
        # With the narrowing threshold crossed, the first page is ranked among title matches; later pages fall
        # back to every match.
        monkeypatch.setattr(embedded_module, "RANK_ALL_LIMIT", 1)
        first = await engine.search(SearchQuery(kind="achievement", q="传感器", limit=3), highlight=[])
        assert {h.id for h in first.hits} == {d.id for d in in_title}
        assert first.total == 6
        second = await engine.search(SearchQuery(kind="achievement", q="传感器", limit=3, offset=3), highlight=[])
        assert {h.id for h in second.hits} == {d.id for d in in_body}
        await engine.close()

    async def test_with_filters_only_the_documents_passing_them_are_ranked(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        engine = EmbeddedEngine(tmp_path / "index", segmenter())
        await engine.open()
        title_kept = [doc(title=f"传感器标定方法{i}", summary="一种方法", description=None, trl=7) for i in range(2)]
        title_dropped = [doc(title=f"传感器封装{i}", summary="一种方法", description=None, trl=2) for i in range(2)]
        body_kept = [doc(title=f"测量装置{i}", summary="包括传感器", description=None, trl=7) for i in range(2)]
        await engine.apply("achievement", [*body_kept, *title_dropped, *title_kept], [])
        result = await engine.search(SearchQuery(kind="achievement", q="传感器", trl_min=5), highlight=[])
        assert [h.id for h in result.hits[2:]] == [d.id for d in reversed(body_kept)]
        assert {h.id for h in result.hits[:2]} == {d.id for d in title_kept}
        assert result.total == 4
        monkeypatch.setattr(embedded_module, "RANK_ALL_LIMIT", 1)  # narrowing to title matches, among the kept
        query = SearchQuery(kind="achievement", q="传感器", trl_min=5, limit=2)
        assert [h.id for h in (await engine.search(query, highlight=[])).hits] == [h.id for h in result.hits[:2]]
        second = await engine.search(
            SearchQuery(kind="achievement", q="传感器", trl_min=5, limit=2, offset=2), highlight=[]
        )
        assert [h.id for h in second.hits] == [h.id for h in result.hits[2:]]
        await engine.close()

    async def test_a_second_process_sees_the_swap(self, tmp_path: Path) -> None:
        server = EmbeddedEngine(tmp_path / "index", segmenter())
        cli = EmbeddedEngine(tmp_path / "index", segmenter())
        await server.open()
        await cli.open()
        builder = await cli.begin_rebuild("demand")
        await builder.apply([doc("demand", title="另一个进程建的索引")], [])
        await builder.commit()
        assert len(await found(server, "索引", kind="demand")) == 1
        await server.close()
        await cli.close()


class TestEmbeddedColumnarCopy:
    """Filters, facets and date/price order read a per-process copy of the filter columns: it must follow writes."""

    async def test_writes_of_another_process_are_seen(self, tmp_path: Path) -> None:
        server = EmbeddedEngine(tmp_path / "index", segmenter())
        writer = EmbeddedEngine(tmp_path / "index", segmenter())  # another process writing the same file
        await server.open()
        await writer.open()
        kept = doc(title="无人机巡检系统", technical_field="electronic_information", trl=5)
        gone = doc(title="无人机植保方法", technical_field="agriculture", trl=6)
        await writer.apply("achievement", [kept, gone], [])
        query = SearchQuery(kind="achievement", q="无人机", trl_min=5, facets=("technical_field", "trl"))
        assert (await server.search(query, highlight=[])).facets["technical_field"] == {
            "electronic_information": 1,
            "agriculture": 1,
        }
        changed = doc(id=kept.id, version=2, title="无人机巡检系统", technical_field="new_energy", trl=8)
        await writer.apply("achievement", [changed], [(gone.id, 1)])
        result = await server.search(query, highlight=[])
        assert [h.id for h in result.hits] == [kept.id]
        assert result.facets == {"technical_field": {"new_energy": 1}, "trl": {"8": 1}}
        assert await found(server, "无人机", technical_field="electronic_information") == []
        await server.close()
        await writer.close()

    async def test_a_copy_older_than_the_change_log_is_reloaded(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(embedded_module, "CHANGE_LOG_GENERATIONS", 1)
        server = EmbeddedEngine(tmp_path / "index", segmenter())
        writer = EmbeddedEngine(tmp_path / "index", segmenter())
        await server.open()
        await writer.open()
        first = doc(title="风电叶片检测", region_code="510104")
        await writer.apply("achievement", [first], [])
        assert await found(server, "检测", region="510100") == [first.id]
        # Three write transactions: the log keeps only the last one, which does not reach back to the server's copy.
        second = doc(title="桥梁裂缝检测", region_code="500112")
        await writer.apply("achievement", [second], [])
        await writer.apply("achievement", [doc(id=first.id, version=2, title="风电叶片检测", region_code="500103")], [])
        await writer.apply("achievement", [doc(title="无关的成果")], [])
        assert set(await found(server, "检测", region="500000")) == {first.id, second.id}
        assert await found(server, "检测", region="510100") == []
        await server.close()
        await writer.close()

    async def test_date_and_price_order_with_a_query_and_filters(self, tmp_path: Path) -> None:
        engine = EmbeddedEngine(tmp_path / "index", segmenter())
        await engine.open()
        price = {"kind": "range", "min_fen": 0, "max_fen": 0}
        old = doc(title="储能电池管理", published_at="2026-01-01T00:00:00Z", price={**price, "min_fen": 300})
        new = doc(title="储能电池热管理", published_at="2026-05-01T00:00:00Z", price={**price, "min_fen": 100})
        free = doc(title="储能电池梯次利用", published_at="2026-03-01T00:00:00Z", price=None)
        other = doc(title="储能电池", technical_field="agriculture", published_at="2026-06-01T00:00:00Z")
        await engine.apply("achievement", [old, new, free, other], [])
        filters = {"kind": "achievement", "q": "储能电池", "technical_field": "environment", "facets": ("trl",)}
        newest = await engine.search(SearchQuery(**filters, sort="newest"), highlight=[])
        assert [h.id for h in newest.hits] == [new.id, free.id, old.id]
        assert all(h.score is not None and h.score > 0 for h in newest.hits)  # BM25 of the page, though unranked
        by_price = await engine.search(SearchQuery(**filters, sort="price", limit=2), highlight=[])
        assert [h.id for h in by_price.hits] == [new.id, old.id]  # no price last
        last = await engine.search(SearchQuery(**filters, sort="price", limit=2, offset=2), highlight=[])
        assert [h.id for h in last.hits] == [free.id]
        assert last.total == 3
        await engine.close()

    async def test_a_read_transaction_older_than_the_copy_sees_its_own_state(self, tmp_path: Path) -> None:
        engine = EmbeddedEngine(tmp_path / "index", segmenter())
        await engine.open()
        first = doc(title="状态", trl=3)
        await engine.apply("achievement", [first], [])
        index = engine.refresh("achievement")
        with index.snapshot() as old:
            before = index._columns(old)
            await engine.apply("achievement", [doc(id=first.id, version=2, title="状态", trl=8)], [])
            # Another search moves the process's copy on to the new generation...
            assert (await engine.search(SearchQuery(kind="achievement", trl_min=8), highlight=[])).total == 1
            # ...while the older read transaction still gets a copy of what it sees.
            again = index._columns(old)
            assert again.generation == before.generation
            assert len(again.select(SearchQuery(kind="achievement", trl_max=3), None)) == 1
        await engine.close()
