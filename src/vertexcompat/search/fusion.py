"""Reciprocal rank fusion: several rankings of the same kind of items made one, each item
scored Σ 1 / (k + rank) over the rankings it appears in (rank from 1). Only ranks count, so
BM25 scores and cosine similarities need no common scale; k = 60 is the constant of Cormack,
Clarke and Büttcher (SIGIR 2009), which keeps one list's top item from outvoting an item
both lists rank well."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

RRF_K = 60


def reciprocal_rank_fusion(rankings: Sequence[Sequence[K]], *,
                           k: int = RRF_K) -> list[tuple[K, float]]:
    """Every item of `rankings` (each best first) with its fused score, best first; ties
    keep the order in which items were first seen."""
    scores: dict[K, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])
