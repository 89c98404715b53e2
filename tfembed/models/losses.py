"""The semantic relevance loss of the paper (Gururani et al. 2019, Eq. 1).

For a batch of neighbour pairs ``(M_i, N_i)``, the candidate set ``D_i`` holds the
positive ``N_i`` and ``|D| - 1`` negatives ``N_j`` drawn at random from the other
pairs of the batch (``j != i``, never the positive itself). With cosine similarity
scaled by a smoothing factor ``gamma``,
``P(N_i | M_i) = exp(gamma cos(M_i, N_i)) / sum_{d in D_i} exp(gamma cos(M_i, d))``,
and the loss is the batch mean of ``-log P(N_i | M_i)``.
"""

from __future__ import annotations

import tensorflow as tf

_EPSILON = 1e-6


def unit_vectors(vectors: tf.Tensor) -> tf.Tensor:
    """Scales vectors to unit length along the last axis, in float32; zero stays zero."""
    return tf.math.l2_normalize(tf.cast(vectors, tf.float32), axis=-1, epsilon=_EPSILON)


def cosine_similarity(left: tf.Tensor, right: tf.Tensor) -> tf.Tensor:
    """Cosine similarity along the last axis, in float32; zero vectors give 0, not NaN."""
    return tf.reduce_sum(unit_vectors(left) * unit_vectors(right), axis=-1)


def draw_negatives(batch_size: tf.Tensor, num_negatives: int, seed: int | None = None) -> tf.Tensor:
    """Draws, for every item ``i``, ``num_negatives`` other items ``j != i`` uniformly.

    Returns:
        int32 ``[batch_size, num_negatives]``; draws are with replacement.
    """
    draws = tf.random.uniform(
        [batch_size, num_negatives], maxval=batch_size - 1, dtype=tf.int32, seed=seed
    )
    rows = tf.range(batch_size)[:, tf.newaxis]
    return draws + tf.cast(draws >= rows, tf.int32)  # skip the item itself


def semantic_relevance_loss(
    anchors: tf.Tensor,
    positives: tf.Tensor,
    num_candidates: int,
    smoothing: float,
    negatives: tf.Tensor | None = None,
) -> tf.Tensor:
    """Mean ``-log P(positive | anchor)`` over the batch.

    Args:
        anchors: Embeddings ``[batch, dim]`` of clips ``i`` (any float dtype).
        positives: Embeddings ``[batch, dim]`` of their neighbours ``i + 1``.
        num_candidates: ``|D|``: the positive plus ``|D| - 1`` negatives (paper: 4).
        smoothing: Factor ``gamma`` on the cosine similarity.
        negatives: Optional int ``[batch, |D| - 1]`` indices of the negatives;
            drawn with :func:`draw_negatives` when ``None``.

    Returns:
        A float32 scalar.
    """
    if num_candidates < 2:
        raise ValueError(f"num_candidates (|D|) must be at least 2, not {num_candidates}")
    if negatives is None:
        negatives = draw_negatives(tf.shape(anchors)[0], num_candidates - 1)
    positive_similarity = cosine_similarity(anchors, positives)[:, tf.newaxis]
    negative_similarity = cosine_similarity(
        anchors[:, tf.newaxis, :], tf.gather(positives, negatives)
    )
    logits = smoothing * tf.concat([positive_similarity, negative_similarity], axis=1)
    return -tf.reduce_mean(tf.nn.log_softmax(logits, axis=1)[:, 0])
