"""Feature workers: an auxiliary loss that asks the embedding to carry hand-made features.

PASE (Pascual et al., 2019, "Learning problem-agnostic speech representations
from multiple self-supervised tasks", Interspeech) trains an encoder together
with small "workers" that regress hand-made features of the input from the
encoder's output. Here each tower gets one linear worker that predicts the
hand-made features of its own clip (:mod:`tfembed.features.handmade`: band
statistics and chroma of a mel clip; pitch-class histogram, pitch range, onset
rate and polyphony of a piano roll), each feature standardised over the batch.
As PASE gives each kind of feature its own worker and sums their losses, the
loss is the mean over the feature groups (:func:`handmade_groups`) of each
group's mean squared error, so that the 12 chroma bins weigh as much as the 96
band means. No label is used.

Why: the neighbour loss need not keep what tells keys apart. The tower's 3x3
convolutions see a few semitones at a time and its global pooling forgets where
in frequency they fired, so a pitch-class profile is not something its
embedding holds by construction; a linear worker on the embedding asks for it.

The targets are computed on the host (``tf.numpy_function``, the evaluation's
own NumPy code), so a training step with workers cannot be compiled with XLA.
Workers are training-only, like projection heads: exports hold the towers.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from tfembed.features.framegrid import FrameGrid
from tfembed.features.handmade import handmade_features, handmade_groups, handmade_size

VARIANCE_FLOOR = 1e-3
"""Added to each feature's batch variance, so that a feature almost constant in a
batch is not blown up to unit-variance noise."""


@dataclasses.dataclass(frozen=True, eq=False)
class FeatureTargets:
    """The hand-made features of one domain's clips, standardised over the batch.

    Attributes:
        domain: ``mel`` or ``roll``.
        grid: The clips' frame grid.
    """

    domain: str
    grid: FrameGrid

    @property
    def size(self) -> int:
        """Number of features."""
        return handmade_size(self.domain, self.grid)

    def feature_weights(self) -> np.ndarray:
        """float32 ``[size]``: each group weighs the same in the loss, its features share it."""
        groups = handmade_groups(self.domain, self.grid)
        return np.concatenate(
            [np.full(size, 1.0 / (len(groups) * size), np.float32) for size in groups]
        )

    def __call__(self, clips: tf.Tensor) -> tf.Tensor:
        """``[batch, frames, bins]`` clips -> float32 ``[batch, size]`` standardised features."""
        features = tf.numpy_function(
            lambda batch: handmade_features(batch, self.domain, self.grid),
            [tf.cast(clips, tf.float32)],
            tf.float32,
            stateful=False,
        )
        features = tf.ensure_shape(features, [None, self.size])
        mean, variance = tf.nn.moments(features, axes=[0])
        return tf.stop_gradient((features - mean) * tf.math.rsqrt(variance + VARIANCE_FLOOR))


class FeatureWorker(keras.layers.Layer):
    """A linear map from a tower's embedding to the hand-made features of its clip."""

    def __init__(self, targets: FeatureTargets, embedding_size: int, **kwargs) -> None:
        super().__init__(dtype="float32", **kwargs)
        self.targets = targets
        self.weights_of_features = tf.constant(targets.feature_weights())
        self.dense = keras.layers.Dense(targets.size, dtype="float32", name=f"{self.name}_dense")
        self.build((None, embedding_size))

    def build(self, input_shape) -> None:
        """Creates the dense layer's weights for ``[batch, embedding_size]`` input."""
        self.dense.build(input_shape)
        self.built = True

    def call(self, embedding: tf.Tensor) -> tf.Tensor:
        """``[batch, embedding_size]`` embeddings -> ``[batch, size]`` predicted features."""
        return self.dense(tf.cast(embedding, tf.float32))

    def feature_loss(self, clips: tf.Tensor, embedding: tf.Tensor) -> tf.Tensor:
        """The mean over feature groups of the mean squared error of the standardised features."""
        squared_errors = tf.reduce_mean(tf.square(self(embedding) - self.targets(clips)), axis=0)
        return tf.reduce_sum(squared_errors * self.weights_of_features)
