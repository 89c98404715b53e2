"""The fused batch norm computes what Keras's BatchNormalization computes."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfembed.models.fused_norm import FusedBatchNormalization


def _run(layer: keras.layers.BatchNormalization, clips: tf.Tensor) -> list[np.ndarray]:
    layer.build(clips.shape)
    layer.gamma.assign(tf.linspace(0.5, 2.0, clips.shape[-1]))
    layer.beta.assign(tf.linspace(-1.0, 1.0, clips.shape[-1]))
    with tf.GradientTape() as tape:
        tape.watch(clips)
        outputs = layer(clips, training=True)
        loss = tf.reduce_sum(outputs * tf.sin(outputs))
    gradients = tape.gradient(loss, [clips, layer.gamma, layer.beta])
    return [
        outputs.numpy(),
        *(gradient.numpy() for gradient in gradients),
        layer.moving_mean.numpy(),
        layer.moving_variance.numpy(),
        layer(clips, training=False).numpy(),
    ]


@pytest.mark.parametrize("channels", [1, 5])
def test_training_and_inference_match_keras(channels):
    clips = tf.constant(
        np.random.default_rng(0).normal(3.0, 2.0, (8, 12, 10, channels)).astype(np.float32)
    )
    expected = _run(keras.layers.BatchNormalization(), clips)
    fused = _run(FusedBatchNormalization(), clips)
    names = [
        "output",
        "input gradient",
        "gamma gradient",
        "beta gradient",
        "moving mean",
        "moving variance",
        "inference output",
    ]
    for name, want, got in zip(names, expected, fused, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=name)


def test_other_inputs_take_the_keras_path():
    # A [batch, features] input is not fused; the layer still normalises it.
    features = tf.constant(np.random.default_rng(1).normal(size=(16, 3)).astype(np.float32))
    outputs = FusedBatchNormalization()(features, training=True).numpy()
    np.testing.assert_allclose(outputs.mean(axis=0), 0.0, atol=1e-5)
