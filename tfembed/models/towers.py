"""The convolutional tower that embeds one clip (mel or piano roll) in 128 dimensions.

Architecture (input ``[frames, 96]``, 192 frames for 3 s):

1. batch normalisation of the input (mel and roll have very different ranges);
2. five blocks of 3x3 convolution (widths ``16, 32, 64, 64, 128`` by default),
   batch normalisation, ReLU and 2x2 max pooling: ``192x96 -> 6x3``;
3. global average pooling over time and frequency;
4. a dense layer to the embedding, computed in float32 even under mixed precision.
"""

from __future__ import annotations

import keras

DEFAULT_WIDTHS = (16, 32, 64, 64, 128)
EMBEDDING_SIZE = 128


def build_tower(
    name: str,
    frames: int = 192,
    bins: int = 96,
    widths: tuple[int, ...] = DEFAULT_WIDTHS,
    embedding_size: int = EMBEDDING_SIZE,
    synchronized: bool = False,
) -> keras.Model:
    """Builds a tower: ``[batch, frames, bins]`` float32 -> ``[batch, embedding_size]`` float32.

    Args:
        name: Model name (also the prefix of its layer names).
        frames: Frames per clip.
        bins: Mel bands or piano-roll pitches.
        widths: Channels of the convolution blocks; one 2x2 pooling per block.
        embedding_size: Size of the embedding.
        synchronized: Batch statistics over every replica of the distribution
            strategy (``BatchNormalization(synchronized=True)``), so the moving
            statistics stay identical on every worker of a multi-worker run.
    """
    clips = keras.Input([frames, bins], name=f"{name}_clips")
    x = keras.layers.Reshape([frames, bins, 1], name=f"{name}_channel")(clips)
    x = keras.layers.BatchNormalization(synchronized=synchronized, name=f"{name}_input_norm")(x)
    for block, width in enumerate(widths):
        x = keras.layers.Conv2D(
            width, 3, padding="same", use_bias=False, name=f"{name}_conv{block}"
        )(x)
        x = keras.layers.BatchNormalization(synchronized=synchronized, name=f"{name}_norm{block}")(
            x
        )
        x = keras.layers.ReLU(name=f"{name}_relu{block}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"{name}_pool{block}")(x)
    x = keras.layers.GlobalAveragePooling2D(name=f"{name}_average")(x)
    embedding = keras.layers.Dense(embedding_size, dtype="float32", name=f"{name}_embedding")(x)
    return keras.Model(clips, embedding, name=name)
