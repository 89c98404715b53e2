"""The semantic relevance loss of the paper (Gururani et al. 2019, Eq. 1).

For a batch of neighbour pairs ``(M_i, N_i)``, the candidate set ``D_i`` holds the
positive ``N_i`` and ``|D| - 1`` negatives ``N_j`` drawn at random from the other
pairs of the batch (``j != i``, never the positive itself). With cosine similarity
scaled by a smoothing factor ``gamma``,
``P(N_i | M_i) = exp(gamma cos(M_i, N_i)) / sum_{d in D_i} exp(gamma cos(M_i, d))``,
and the loss is the batch mean of ``-log P(N_i | M_i)``.

:func:`in_batch_loss` is the alternative of COLA and CLMR: every other pair of
the batch is a negative, and the loss is symmetric in both directions
(InfoNCE), with the smoothing factor as inverse temperature.
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


NEGATIVES = ("sampled", "in_batch")
"""Where the negatives of a pair come from: |D| - 1 drawn from the batch, or all of it."""


def in_batch_loss(anchors: tf.Tensor, positives: tf.Tensor, smoothing: float) -> tf.Tensor:
    """Symmetric InfoNCE: each anchor against every positive of the batch, and back.

    Args:
        anchors: Embeddings ``[batch, dim]`` of clips ``i``.
        positives: Embeddings ``[batch, dim]`` of their neighbours ``i + 1``.
        smoothing: Factor on the cosine similarity (inverse temperature).

    Returns:
        A float32 scalar: the mean of both directions' cross-entropies.
    """
    logits = smoothing * tf.matmul(unit_vectors(anchors), unit_vectors(positives), transpose_b=True)
    labels = tf.range(tf.shape(logits)[0])
    forward = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
    backward = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, tf.transpose(logits))
    return 0.5 * (tf.reduce_mean(forward) + tf.reduce_mean(backward))


def pair_loss(
    anchors: tf.Tensor, positives: tf.Tensor, negatives: str, num_candidates: int, smoothing: float
) -> tf.Tensor:
    """The loss of a batch of pairs with ``sampled`` (the paper's) or ``in_batch`` negatives."""
    if negatives == "in_batch":
        return in_batch_loss(anchors, positives, smoothing)
    if negatives == "sampled":
        return semantic_relevance_loss(anchors, positives, num_candidates, smoothing)
    raise ValueError(f"negatives must be one of {NEGATIVES}, not {negatives!r}")
