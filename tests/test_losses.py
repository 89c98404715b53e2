"""The semantic relevance loss against a NumPy reference, and its edge cases."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfembed.models.losses import draw_negatives, semantic_relevance_loss


def _reference(anchors, positives, negatives, smoothing):
    def cosine(a, b):
        return a @ b / (np.linalg.norm(a) * np.linalg.norm(b))

    losses = []
    for i in range(len(anchors)):
        candidates = [positives[i]] + [positives[j] for j in negatives[i]]
        logits = smoothing * np.array([cosine(anchors[i], c) for c in candidates])
        losses.append(-(logits[0] - np.log(np.exp(logits).sum())))
    return np.mean(losses)


def test_loss_matches_numpy_reference() -> None:
    rng = np.random.default_rng(1)
    anchors, positives = rng.normal(size=(2, 16, 128))
    negatives = np.asarray(draw_negatives(16, 3, seed=3))
    loss = semantic_relevance_loss(anchors, positives, 4, 10.0, negatives)
    np.testing.assert_allclose(
        float(loss), _reference(anchors, positives, negatives, 10.0), rtol=1e-5
    )


def test_negatives_are_never_the_item_itself() -> None:
    negatives = draw_negatives(tf.constant(5), 3000).numpy()
    rows = np.arange(5)[:, None]
    assert (negatives != rows).all()
    assert set(np.unique(negatives)) == set(range(5))


def test_zero_vectors_and_float16_give_finite_loss_and_gradients() -> None:
    anchors = tf.Variable(tf.zeros([8, 128], tf.float16))
    positives = tf.cast(tf.random.normal([8, 128]), tf.float16)
    with tf.GradientTape() as tape:
        loss = semantic_relevance_loss(anchors, positives, 4, 10.0)
    gradient = tape.gradient(loss, anchors)
    assert loss.dtype == tf.float32
    assert np.isfinite(float(loss)) and np.isclose(float(loss), np.log(4), atol=1e-3)
    assert np.isfinite(gradient.numpy()).all()
