"""SpecAugment-style masking of mel clips (Park et al., 2019), via tensorflow-io.

tensorflow-io is imported here only, so it can be replaced without touching the
pipeline; its ops never end up in an exported model (masking is a training-time
transform of the input pipeline).
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
