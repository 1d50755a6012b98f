"""The relevance rules of services/search/engines/ranking.py as pure functions (milli's semantics, our fusion)."""

from __future__ import annotations

import numpy as np
import pytest

from services.search.engines import ranking


def ids(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


class TestKeepOrder:
    def test_last_keeps_the_query_order_one_word_a_group(self) -> None:
        assert ranking.keep_order("last", [5, 1, 9]) == [[0], [1], [2]]

    def test_all_is_one_group(self) -> None:
        assert ranking.keep_order("all", [5, 1, 9]) == [[0, 1, 2]]

    def test_frequency_keeps_the_rarest_first_groups_ties_and_drops_unknown_words_first(self) -> None:
        assert ranking.keep_order("frequency", [5, 1, 0, 5, 2]) == [[1], [4], [0, 3], [2]]


class TestWordRanks:
    def test_last_ranks_by_the_leading_words_held(self) -> None:
        universe, ranks, groups = ranking.word_ranks([ids(1, 2, 3), ids(2, 3, 4), ids(3, 5)], "last")
        assert universe.tolist() == [1, 2, 3]  # 4 and 5 lack the first word
        assert ranks.tolist() == [1, 2, 3]
        assert groups == 3

    def test_a_document_skipping_a_word_stays_in_the_lower_bucket(self) -> None:
        universe, ranks, _ = ranking.word_ranks([ids(1, 2), ids(2), ids(1, 2)], "last")
        assert dict(zip(universe.tolist(), ranks.tolist(), strict=True)) == {1: 1, 2: 3}

    def test_all_needs_every_word(self) -> None:
        universe, ranks, groups = ranking.word_ranks([ids(1, 2, 3), ids(2, 3), ids(3)], "all")
        assert (universe.tolist(), ranks.tolist(), groups) == ([3], [1], 1)


class TestScores:
    def test_keyword_scores_are_monotone_in_bucket_then_bm25(self) -> None:
        scores = [ranking.keyword_score(rank, 3, bm25) for rank in (1, 2, 3) for bm25 in (0.0, 5.0, 50.0)]
        assert scores == sorted(scores)
        assert all(0 <= s < 1 for s in scores)

    def test_similarity_is_milli_s_one_minus_arroy_s_cosine_distance(self) -> None:
        assert ranking.similarity(np.array([1.0, 0.0, -1.0], dtype=np.float32), None).tolist() == [1.0, 0.5, 0.0]

    def test_a_distribution_recentres_on_a_half_and_clamps(self) -> None:
        shifted = ranking.similarity(np.array([0.8, 0.84, 0.99], dtype=np.float32), ranking.Distribution(0.9, 0.02))
        assert shifted[0] == pytest.approx(0.5, abs=1e-6)  # (1 + 0.8) / 2 = 0.9 is the mean
        assert shifted[1] == pytest.approx(0.5 + 0.4 * 0.02 / 0.02, abs=1e-5)
        assert shifted[2] == 1.0


class TestMerging:
    def test_meilisearch_s_merge_interleaves_by_weighted_score_without_repeats(self) -> None:
        keyword = [("a", 0.9), ("b", 0.5)]
        semantic = [("c", 0.8), ("a", 0.7)]
        assert ranking.merge_hybrid(keyword, semantic, 0.5, 0, 10) == [("a", 0.9), ("c", 0.8), ("b", 0.5)]
        assert ranking.merge_hybrid(keyword, semantic, 0.5, 1, 1) == [("c", 0.8)]

    def test_good_enough_keyword_results_need_a_full_page_of_strong_hits(self) -> None:
        assert ranking.keyword_results_good_enough([("a", 0.95), ("b", 0.92)], 2, 0.5)
        assert not ranking.keyword_results_good_enough([("a", 0.95), ("b", 0.5)], 2, 0.5)
        assert not ranking.keyword_results_good_enough([("a", 0.95)], 2, 0.5)

    def test_convex_fusion_lets_a_document_good_on_both_sides_rise(self) -> None:
        keyword = {"a": 0.9, "b": 0.6}
        semantic = {"c": 0.95, "b": 0.94, "d": 0.90}
        fused = ranking.convex_fusion(keyword, semantic, 0.5)
        assert [doc for doc, _ in fused] == ["b", "c", "a", "d"]
        assert all(0 <= score <= 1 for _, score in fused)
        assert ranking.convex_fusion(keyword, {}, 0.5) == [("a", 0.9), ("b", 0.6)]


class TestContains:
    def test_membership_in_a_sorted_array(self) -> None:
        assert ranking.contains(ids(2, 4, 9), ids(9, 1, 4, 10, 2)).tolist() == [True, False, True, False, True]
        assert ranking.contains(ids(), ids(1, 2)).tolist() == [False, False]
