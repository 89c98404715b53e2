"""Training-time transforms of mel clips: SpecAugment-style masking and random gain.

Masking (Park et al., 2019) uses tensorflow-io, imported here only, so it can be
replaced without touching the pipeline; neither transform ever ends up in an
exported model (both are transforms of the training input pipeline).
"""

from __future__ import annotations

import tensorflow as tf


def mask_mel(mel: tf.Tensor, frequency_width: int = 12, time_width: int = 24) -> tf.Tensor:
    """Masks one random band of up to ``frequency_width`` mel bins and one span of frames.

    Masked values are set to the clip's minimum (silence on the log scale), not 0.

    Args:
        mel: One clip ``[frames, n_mels]``.
        frequency_width: Widest frequency mask in bins.
        time_width: Longest time mask in frames.
    """
    import tensorflow_io as tfio

    floor = tf.reduce_min(mel)
    shifted = mel - floor  # tfio masks with zeros
    shifted = tfio.audio.freq_mask(shifted, param=frequency_width)
    shifted = tfio.audio.time_mask(shifted, param=time_width)
    return shifted + floor


def random_gain(mel: tf.Tensor, decibels: float, seed: tf.Tensor, log_offset: float) -> tf.Tensor:
    """Scales a clip's mel power by a gain drawn uniformly in ``[-decibels, decibels]`` dB.

    Exact for the log-mel of :func:`tfembed.features.frontend.log_mel`
    (``log(power + log_offset)``): silence stays silence, a sounding band moves by
    ``gain * ln(10) / 10``. Neighbouring clips share the level of their piece;
    drawn independently per clip, the gain stops level from telling them apart.

    Args:
        mel: One clip ``[frames, n_mels]``.
        decibels: Largest gain, in dB of power.
        seed: Shape ``[2]`` int seed of the stateless draw.
        log_offset: The frame grid's ``log_offset``.
    """
    gain = tf.random.stateless_uniform([], seed, -decibels, decibels)
    power = tf.maximum(tf.exp(mel) - log_offset, 0.0)
    return tf.math.log(power * tf.pow(10.0, gain / 10.0) + log_offset)
