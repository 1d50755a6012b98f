"""Segmentation, FTS5 match expressions, snippets and engine selection (pure functions, no database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.search.engines import build_engine
from services.search.engines.embedded import EmbeddedEngine, _term_match
from services.search.segment import QueryTerm, segmenter, snippet
from services.search.settings import SearchSettings


class TestSegmenter:
    def test_index_tokens_hold_sub_words_and_bigrams(self) -> None:
        tokens = segmenter().index_tokens("待处理的污水处理设备安装简单")
        assert {"待处理", "处理", "污水处理", "污水", "安装", "简单"} <= set(tokens)
        assert "的" in tokens  # single characters stay; punctuation does not
        assert "，" not in segmenter().index_tokens("甲，乙")

    def test_full_width_and_case_are_folded(self) -> None:
        assert "5g" in segmenter().index_tokens("５Ｇ通信")
        assert [t.word for t in segmenter().query_terms("CPU 芯片")] == ["cpu", "芯片"]

    def test_query_terms_carry_bigrams_of_long_words(self) -> None:
        terms = segmenter().query_terms("锂离子电池 电池")
        assert terms[0] == QueryTerm("锂离子", ("锂离", "离子"))
        assert [t.word for t in terms] == ["锂离子", "电池"]  # duplicates dropped

    def test_match_expression_quotes_every_word(self) -> None:
        assert _term_match(QueryTerm("锂离子", ("锂离", "离子"))) == '("锂离子" OR ("锂离" AND "离子"))'
        assert _term_match(QueryTerm('a"b')) == '"a""b"'
        assert _term_match(QueryTerm("电", prefix=True)) == '("电" OR "电" *)'

    def test_stop_words_are_left_out_and_ten_words_kept(self) -> None:
        words = [t.word for t in segmenter().query_terms("寻求图像识别方面的技术合作，用于工业产品表面缺陷检测")]
        assert words == ["图像识别", "工业", "产品", "表面", "缺陷", "检测"]
        assert segmenter().query_terms("我们需要，一种") == []
        many = " ".join(f"词{i}" for i in range(15))
        assert len(segmenter().query_terms(many)) == 10

    def test_the_last_word_is_a_prefix_unless_the_query_ends_after_it(self) -> None:
        assert segmenter().query_terms("锂电池极片缺")[-1] == QueryTerm("缺", prefix=True)
        assert segmenter().query_terms("锂电池 极片 ")[-1] == QueryTerm("极片")
        assert segmenter().query_terms("锂电池。")[-1] == QueryTerm("锂电池", ("锂电", "电池"))


class TestSnippet:
    def test_escapes_html_and_highlights(self) -> None:
        assert snippet("<script>处理</script>", ["处理"]) == "&lt;script&gt;<em>处理</em>&lt;/script&gt;"

    def test_windows_around_the_first_match(self) -> None:
        text = "甲" * 100 + "处理" + "乙" * 100
        cut = snippet(text, ["处理"], width=40)
        assert cut.startswith("…")
        assert cut.endswith("…")
        assert "<em>处理</em>" in cut
        assert len(cut.replace("<em>", "").replace("</em>", "")) == 42

    def test_without_a_match_the_start_is_shown(self) -> None:
        assert snippet("没有匹配的文字", ["电池"]) == "没有匹配的文字"
        assert snippet(None, ["电池"]) == ""


class TestEngineChoice:
    def test_embedded_by_default_and_meilisearch_when_a_url_is_set(self, tmp_path: Path) -> None:
        assert isinstance(build_engine(SearchSettings(data_dir=tmp_path, meili_url=None), segmenter()), EmbeddedEngine)
        settings = SearchSettings(data_dir=tmp_path, meili_url="http://meili:7700")
        assert settings.resolved_engine == "meilisearch"
        assert build_engine(settings, segmenter()).name == "meilisearch"
        forced = SearchSettings(data_dir=tmp_path, meili_url="http://meili:7700", engine="embedded")
        assert forced.resolved_engine == "embedded"
        assert forced.resolved_index_dir == tmp_path / "search-index"

    def test_meilisearch_without_a_url_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="MEILI_URL"):
            build_engine(SearchSettings(data_dir=tmp_path, engine="meilisearch", meili_url=None), segmenter())
