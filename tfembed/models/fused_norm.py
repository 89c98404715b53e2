"""Batch normalisation computed by one fused kernel in training.

Keras 3's ``BatchNormalization`` normalises with separate TensorFlow ops (the
moments, a subtraction, a multiplication, an addition) and differentiates each
of them: on a CPU every one is a pass over the tower's largest activations
(``[batch, 192, 96, 16]`` after the first convolution). TensorFlow's
``FusedBatchNormV3`` (a oneDNN kernel on CPU) does the forward pass in one op and
the backward pass in another. Measured with ``tools/benchmarks/bench_train.py``
(2026-12-04, shipped MEL_MEL, batch 32, AMD EPYC with 2 cores, oneDNN capped at
AVX2): 87.4 pairs/s with Keras's layer, 122.6 with this one (31% and 43% of the
float32 matmul peak of the same run). Weights, moving statistics and their
update rule are Keras's own, so checkpoints and exports are the same either way.
"""

from __future__ import annotations

import keras
import tensorflow as tf


class FusedBatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` whose training pass on 4-D NHWC input is fused.

    Inference, synchronized batch norm, renormalisation, masks and inputs that
    are not ``[batch, height, width, channels]`` normalised over the channels
    take Keras's own path.
    """

    def _fusable(self, inputs, training, mask) -> bool:
        return (
            bool(training)
            and self.trainable
            and mask is None
            and not self.synchronized
            and not self.renorm
            and len(inputs.shape) == 4
            and self.axis in (3, -1)
        )

    def call(self, inputs, training=None, mask=None):
        """Normalises with the batch's statistics (training) or the moving ones."""
        if not self._fusable(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        x = tf.cast(inputs, tf.float32)
        channels = x.shape[-1]
        scale = tf.cast(self.gamma, tf.float32) if self.scale else tf.ones([channels])
        offset = tf.cast(self.beta, tf.float32) if self.center else tf.zeros([channels])
        empty = tf.zeros([0], tf.float32)
        outputs, mean, corrected_variance, *_ = tf.raw_ops.FusedBatchNormV3(
            x=x,
            scale=scale,
            offset=offset,
            mean=empty,
            variance=empty,
            epsilon=self.epsilon,
            data_format="NHWC",
            is_training=True,
        )
        # The kernel returns the variance with Bessel's correction; Keras keeps the
        # batch's own (divided by n) in its moving statistics.
        count = tf.cast(tf.size(x) // channels, tf.float32)
        variance = corrected_variance * (count - 1.0) / count
        momentum = self.momentum
        self.moving_mean.assign(
            tf.cast(self.moving_mean, tf.float32) * momentum + mean * (1.0 - momentum)
        )
        self.moving_variance.assign(
            tf.cast(self.moving_variance, tf.float32) * momentum + variance * (1.0 - momentum)
        )
        return tf.cast(outputs, self.compute_dtype)
