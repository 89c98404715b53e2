"""rank@100: rival draws, ranks and their summaries."""

from __future__ import annotations

import numpy as np
import pytest

from tfembed.models.ranking import draw_rivals, neighbour_ranks, rank_summary


def test_rivals_are_distinct_and_never_the_query_or_its_positive() -> None:
    excluded = np.stack([np.arange(150), (np.arange(150) + 1) % 150], axis=1)
    rivals = draw_rivals(150, excluded, seed=3)
    assert rivals.shape == (150, 99)
    for row, skip in zip(rivals, excluded, strict=True):
        assert len(set(row)) == 99
        assert not set(row) & set(skip)
        assert row.min() >= 0 and row.max() < 150
    np.testing.assert_array_equal(rivals, draw_rivals(150, excluded, seed=3))


def test_rivals_need_a_pool_of_101() -> None:
    with pytest.raises(ValueError, match="at least 101 clips"):
        draw_rivals(100, np.tile(np.array([0, 1]), (3, 1)))


def test_ranks_count_rivals_at_least_as_similar() -> None:
    rng = np.random.default_rng(0)
    queries = rng.normal(size=(120, 16)).astype(np.float32)
    pool = queries + 0.01 * rng.normal(size=(120, 16)).astype(np.float32)
    positives = np.arange(120)
    rivals = draw_rivals(120, positives[:, np.newaxis])
    assert np.all(neighbour_ranks(queries, pool, positives, rivals).numpy() == 1)
    assert np.all(neighbour_ranks(queries, -pool, positives, rivals).numpy() == 100)
    # A zero embedding ties with everything, and ties count against the positive.
    assert np.all(neighbour_ranks(queries, 0 * pool, positives, rivals).numpy() == 100)


def test_rank_summary_matches_its_definitions() -> None:
    ranks = np.array([1, 2, 4, 8, 100], np.float64)
    summary = rank_summary(ranks)
    assert summary["rank_am"] == pytest.approx(23.0)
    assert summary["rank_gm"] == pytest.approx((1 * 2 * 4 * 8 * 100) ** 0.2)
    assert summary["mrr"] == pytest.approx(np.mean(1 / ranks))
    assert summary["recall_at_1"] == pytest.approx(0.2)
    assert summary["recall_at_5"] == pytest.approx(0.6)
    assert summary["recall_at_10"] == pytest.approx(0.8)
    weighted = rank_summary(ranks, np.array([2, 0, 0, 0, 1.0]))
    assert weighted["rank_am"] == pytest.approx(34.0)


def test_random_embeddings_rank_at_chance() -> None:
    rng = np.random.default_rng(1)
    embeddings = rng.normal(size=(2000, 32)).astype(np.float32)
    positives = (np.arange(2000) + 1) % 2000
    rivals = draw_rivals(2000, np.stack([np.arange(2000), positives], axis=1))
    ranks = neighbour_ranks(embeddings, embeddings, positives, rivals).numpy()
    assert rank_summary(ranks)["rank_am"] == pytest.approx(50.5, abs=2.0)
