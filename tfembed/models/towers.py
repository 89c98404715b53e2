"""The convolutional tower that embeds one clip (mel or piano roll) in 128 dimensions.

Architecture (input ``[frames, 96]``, 192 frames for 3 s):

1. batch normalisation of the input (mel and roll have very different ranges;
   fused in training, :mod:`tfembed.models.fused_norm`), with a learned scale
   and offset unless ``TowerDesign.input_norm_affine`` is off;
2. five blocks of 3x3 convolution (widths ``16, 32, 64, 64, 128`` by default),
   batch normalisation, ReLU and 2x2 max pooling: ``192x96 -> 6x3``; with
   ``TowerDesign.pool_before_norm``, convolution, pooling, batch normalisation
   and ReLU;
3. global average pooling over time and frequency; optionally
   (``train.multilevel``), of every block's activations before its pooling,
   concatenated (the "multi-level" features of Choi et al. 2017 and Lee and
   Nam 2017, here inside the tower): max pooling keeps one value per 2x2
   region, so counts such as onsets per second fade block by block, while an
   average over a first block's onset detectors is that count;
4. optionally (``train.pitch_classes``), a pitch-class branch beside the
   convolutions: the clip folded onto the 12 pitch classes
   (:mod:`tfembed.features.pitch_classes`), averaged over time, normalised to
   sum 1 and passed through a small dense layer, concatenated to the pooled
   features. 3x3 convolutions see a few semitones at a time; a key spans the
   octave;
5. a dense layer to the embedding, computed in float32 even under mixed precision.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from tfembed.models.fused_norm import FusedBatchNormalization

DEFAULT_WIDTHS = (16, 32, 64, 64, 128)
EMBEDDING_SIZE = 128


@dataclasses.dataclass(frozen=True)
class TowerDesign:
    """The layers of a tower, whatever its input.

    The defaults are the paper's tower. The two switches make the training step
    cheaper on a CPU: the batch norm of the first blocks runs over the tower's
    largest activations, and the input's learned scale and offset make the
    first convolution compute its gradient with respect to the input.

    Attributes:
        widths: Channels of the convolution blocks; one 2x2 pooling per block.
        multilevel: The dense layer reads every block's averaged activations,
            not only the last block's.
        pool_before_norm: Each block pools its convolution's output before the
            batch norm and ReLU, which then pass over a quarter of the values;
            the statistics are the pooled values'. Not with ``multilevel``,
            which averages a block's activations before its pooling.
        input_norm_affine: The input's batch norm learns a scale and an offset.
            The first block's batch norm cancels any offset and a positive
            scale, except where the convolution's zero padding meets them at
            the clip's edges.
    """

    widths: tuple[int, ...] = DEFAULT_WIDTHS
    multilevel: bool = False
    pool_before_norm: bool = False
    input_norm_affine: bool = True

    def __post_init__(self) -> None:
        if self.multilevel and self.pool_before_norm:
            raise ValueError("a multi-level tower averages each block before its pooling")

    @classmethod
    def recorded(cls, train_config: Mapping[str, Any]) -> TowerDesign:
        """The design of a recorded training config (``run.json``, an export's metadata).

        A config recorded before a field existed ran with its default.
        """
        names = [field.name for field in dataclasses.fields(cls)]
        values = {name: train_config[name] for name in names if name in train_config}
        if "widths" in values:
            values["widths"] = tuple(values["widths"])
        return cls(**values)


@dataclasses.dataclass(frozen=True, eq=False)
class PitchClassBranch:
    """The optional pitch-class branch of a tower.

    Attributes:
        weights: ``[bins, 12]`` each input bin's share of every pitch class.
        log_offset: For log-mel input (``log(power + log_offset)``) the offset,
            so that the branch folds linear power; ``None`` for a piano roll,
            folded as it is.
        width: Units of the branch's dense layer.
    """

    weights: np.ndarray
    log_offset: float | None
    width: int = 32

    def profile(self, clips):
        """``[batch, frames, bins]`` clips -> ``[batch, 12]`` pitch-class shares (sum 1, or 0)."""
        level = clips
        if self.log_offset is not None:
            level = keras.ops.maximum(keras.ops.exp(clips) - self.log_offset, 0.0)
        per_frame = keras.ops.matmul(level, keras.ops.convert_to_tensor(self.weights))
        classes = keras.ops.sum(per_frame, axis=1)
        return classes / (keras.ops.sum(classes, axis=-1, keepdims=True) + 1e-6)


PAPER_TOWER = TowerDesign()
"""The paper's layers with the default widths."""


def build_tower(
    name: str,
    frames: int = 192,
    bins: int = 96,
    design: TowerDesign = PAPER_TOWER,
    embedding_size: int = EMBEDDING_SIZE,
    synchronized: bool = False,
    pitch_classes: PitchClassBranch | None = None,
) -> keras.Model:
    """Builds a tower: ``[batch, frames, bins]`` float32 -> ``[batch, embedding_size]`` float32.

    Args:
        name: Model name (also the prefix of its layer names).
        frames: Frames per clip.
        bins: Mel bands or piano-roll pitches.
        design: The layers (:class:`TowerDesign`).
        embedding_size: Size of the embedding.
        synchronized: Batch statistics over every replica of the distribution
            strategy (``BatchNormalization(synchronized=True)``), so the moving
            statistics stay identical on every worker of a multi-worker run.
        pitch_classes: A pitch-class branch beside the convolutions, or ``None``
            (the paper's tower).
    """
    clips = keras.Input([frames, bins], name=f"{name}_clips")
    x = keras.layers.Reshape([frames, bins, 1], name=f"{name}_channel")(clips)
    x = FusedBatchNormalization(
        center=design.input_norm_affine,
        scale=design.input_norm_affine,
        synchronized=synchronized,
        name=f"{name}_input_norm",
    )(x)
    levels = []
    widths = design.widths
    for block, width in enumerate(widths):
        x = keras.layers.Conv2D(
            width, 3, padding="same", use_bias=False, name=f"{name}_conv{block}"
        )(x)
        norm = FusedBatchNormalization(synchronized=synchronized, name=f"{name}_norm{block}")
        relu = keras.layers.ReLU(name=f"{name}_relu{block}")
        pool = keras.layers.MaxPooling2D(2, name=f"{name}_pool{block}")
        if design.pool_before_norm:
            x = relu(norm(pool(x)))
        elif design.multilevel and block < len(widths) - 1:
            x = relu(norm(x))
            levels.append(keras.layers.GlobalAveragePooling2D(name=f"{name}_average{block}")(x))
            x = pool(x)
        else:
            # ReLU and max pooling commute exactly; after the pooling, ReLU and
            # its gradient pass over a quarter of the values.
            x = relu(pool(norm(x)))
    x = keras.layers.GlobalAveragePooling2D(name=f"{name}_average")(x)
    if levels:
        x = keras.layers.Concatenate(name=f"{name}_levels")([*levels, x])
    if pitch_classes is not None:
        profile = keras.layers.Lambda(
            pitch_classes.profile, dtype="float32", name=f"{name}_pitch_classes"
        )(clips)
        profile = keras.layers.Dense(
            pitch_classes.width, activation="relu", name=f"{name}_pitch_dense"
        )(profile)
        x = keras.layers.Concatenate(name=f"{name}_with_pitch_classes")([x, profile])
    embedding = keras.layers.Dense(embedding_size, dtype="float32", name=f"{name}_embedding")(x)
    return keras.Model(clips, embedding, name=name)
