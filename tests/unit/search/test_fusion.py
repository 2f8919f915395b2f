"""Reciprocal rank fusion: scores, order, ties."""

import pytest

from vertexcompat.search.fusion import RRF_K, reciprocal_rank_fusion


def test_an_item_both_rankings_like_beats_one_ranking_s_favourite() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "d", "b"]])
    assert [item for item, _ in fused] == ["c", "b", "a", "d"]
    scores = dict(fused)
    assert scores["c"] == pytest.approx(1 / (RRF_K + 3) + 1 / (RRF_K + 1))
    assert scores["b"] == pytest.approx(1 / (RRF_K + 2) + 1 / (RRF_K + 3))
    assert scores["a"] == pytest.approx(1 / (RRF_K + 1))
    assert scores["d"] == pytest.approx(1 / (RRF_K + 2))


def test_ties_keep_the_order_items_were_first_seen() -> None:
    assert [i for i, _ in reciprocal_rank_fusion([["x", "y"], ["y", "x"]])] == ["x", "y"]
    assert [i for i, _ in reciprocal_rank_fusion([["y", "x"], ["x", "y"]])] == ["y", "x"]
    fused = reciprocal_rank_fusion([["p", "q"], ["r", "s"]])
    assert [i for i, _ in fused] == ["p", "r", "q", "s"]
    assert fused[0][1] == fused[1][1] and fused[2][1] == fused[3][1]


def test_k_sets_the_constant_and_one_ranking_keeps_its_order() -> None:
    fused = reciprocal_rank_fusion([[("doc", 2), ("doc", 0), ("other", 1)]], k=1)
    assert fused == [(("doc", 2), 0.5), (("doc", 0), pytest.approx(1 / 3)),
                     (("other", 1), 0.25)]


def test_nothing_to_fuse() -> None:
    assert reciprocal_rank_fusion([]) == []
    assert reciprocal_rank_fusion([[], []]) == []
