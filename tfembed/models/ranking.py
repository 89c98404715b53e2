"""rank@100: the rank of a clip's neighbour among it and 99 other clips (paper, 3.1).

Shared by the validation during training and by ``tfembed-eval``: each query is
ranked against its own positive and 99 rivals drawn once with a fixed seed, by
cosine similarity; rank 1 is best and chance is 50.5.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfembed.models.losses import unit_vectors

RANK_CANDIDATES = 100
RECALL_AT = (1, 5, 10)


def draw_rivals(
    pool_size: int, excluded: np.ndarray, seed: int = 0, candidates: int = RANK_CANDIDATES
) -> np.ndarray:
    """Draws ``candidates - 1`` distinct rivals for each query.

    Args:
        pool_size: Number of candidate embeddings to draw from.
        excluded: int ``[queries, k]`` pool indices a query must not get as rivals
            (its positive, and the query itself when it is in the pool).
        seed: Seed of the draw; the same seed gives the same rivals.
        candidates: The positive plus its rivals (100 in the paper).

    Returns:
        int32 ``[queries, candidates - 1]`` pool indices.

    Raises:
        ValueError: The pool is too small to draw that many rivals.
    """
    excluded = np.sort(np.asarray(excluded, np.int64), axis=1)
    rivals_needed = candidates - 1
    room = pool_size - excluded.shape[1]
    if room < rivals_needed:
        raise ValueError(
            f"rank@{candidates} needs at least {rivals_needed + excluded.shape[1]} clips, "
            f"only {pool_size} are there"
        )
    rng = np.random.default_rng(seed)
    rivals = np.empty([len(excluded), rivals_needed], np.int64)
    for row, skip in enumerate(excluded):
        drawn = np.sort(rng.choice(room, rivals_needed, replace=False))
        for index in np.unique(skip):
            drawn += drawn >= index
        rivals[row] = drawn
    return rivals.astype(np.int32)


def neighbour_ranks(
    queries: tf.Tensor, pool: tf.Tensor, positives: tf.Tensor, rivals: tf.Tensor
) -> tf.Tensor:
    """Rank of each query's positive among it and its rivals, by cosine similarity.

    Args:
        queries: ``[n, d]`` query embeddings.
        pool: ``[m, d]`` candidate embeddings.
        positives: int ``[n]`` pool index of each query's positive.
        rivals: int ``[n, k]`` pool indices of its rivals (k = 99 for rank@100).

    Returns:
        float32 ``[n]`` ranks, 1 = best; a tie counts against the positive.
    """
    queries = unit_vectors(queries)
    pool = unit_vectors(pool)
    own = tf.reduce_sum(queries * tf.gather(pool, positives), axis=-1, keepdims=True)
    rival_similarities = tf.einsum("nd,nkd->nk", queries, tf.gather(pool, rivals))
    return 1.0 + tf.reduce_sum(tf.cast(rival_similarities >= own, tf.float32), axis=1)


def rank_summary(ranks: np.ndarray, weights: np.ndarray | None = None) -> dict[str, float]:
    """Arithmetic and geometric mean rank, mean reciprocal rank and recall@k.

    Args:
        ranks: ``[n]`` ranks (1 = best).
        weights: Optional ``[n]`` non-negative weights of the queries.

    Returns:
        ``rank_am``, ``rank_gm``, ``mrr`` and ``recall_at_{k}`` for k in 1, 5, 10.
    """
    ranks = np.asarray(ranks, np.float64)
    weights = np.ones_like(ranks) if weights is None else np.asarray(weights, np.float64)
    total = weights.sum()
    summary = {
        "rank_am": float(weights @ ranks / total),
        "rank_gm": float(np.exp(weights @ np.log(ranks) / total)),
        "mrr": float(weights @ (1.0 / ranks) / total),
    }
    for k in RECALL_AT:
        summary[f"recall_at_{k}"] = float(weights @ (ranks <= k) / total)
    return summary
