"""Siamese models of the four variants of the paper, and their training step.

``MEL_MEL`` and ``SYM_SYM`` embed both clips of a pair with one tower (shared
weights); ``MEL_SYM`` and ``SYM_MEL`` have one tower per domain that do not share
weights (paper, section 3). At test time the first tower embeds clips.
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from tfembed.errors import ConfigError
from tfembed.features.framegrid import FrameGrid
from tfembed.models.losses import semantic_relevance_loss
from tfembed.models.towers import build_tower


@dataclasses.dataclass(frozen=True)
class Variant:
    """Input domains of the two sides of a pair, and whether the towers share weights."""

    name: str
    first: str
    second: str

    @property
    def shared(self) -> bool:
        """Whether both sides use one tower (same domain on both sides)."""
        return self.first == self.second


VARIANTS = {
    variant.name: variant
    for variant in (
        Variant("MEL_MEL", "mel", "mel"),
        Variant("SYM_SYM", "roll", "roll"),
        Variant("MEL_SYM", "mel", "roll"),
        Variant("SYM_MEL", "roll", "mel"),
    )
}


def variant_spec(variant: str) -> Variant:
    """The :class:`Variant` of a name.

    Raises:
        ConfigError: The name is not one of :data:`VARIANTS`.
    """
    if variant not in VARIANTS:
        raise ConfigError(f"unknown variant {variant!r}; one of {', '.join(VARIANTS)}")
    return VARIANTS[variant]


class SiameseModel(keras.Model):
    """Two towers (or one, shared) trained with the semantic relevance loss."""

    def __init__(
        self,
        first_tower: keras.Model,
        second_tower: keras.Model,
        num_candidates: int,
        smoothing: float,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.first_tower = first_tower
        self.second_tower = second_tower
        self.num_candidates = num_candidates
        self.smoothing = smoothing

    def call(self, inputs, training: bool = False):
        """Embeds a pair ``(first, second)``; returns both float32 embeddings."""
        first, second = inputs
        return (
            self.first_tower(first, training=training),
            self.second_tower(second, training=training),
        )

    def pair_loss(self, data, training: bool) -> tf.Tensor:
        """The semantic relevance loss of a batch of pairs ``(first, second)``."""
        first, second = self(data, training=training)
        return semantic_relevance_loss(first, second, self.num_candidates, self.smoothing)

    def train_step(self, data) -> dict[str, tf.Tensor]:
        """One Adam step on a batch of pairs; the loss is scaled under mixed precision."""
        with tf.GradientTape() as tape:
            loss = self.pair_loss(data, training=True)
            scaled = self.optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables, strict=True))
        return {"loss": loss}


def build_siamese(
    variant: str,
    grid: FrameGrid,
    widths: tuple[int, ...],
    num_candidates: int,
    smoothing: float,
    synchronized: bool = False,
) -> SiameseModel:
    """Builds the siamese model of ``MEL_MEL``, ``SYM_SYM``, ``MEL_SYM`` or ``SYM_MEL``.

    Each tower's input is one clip of its domain on ``grid``
    (``[clip_frames, n_mels]`` or ``[clip_frames, n_pitches]``). ``synchronized``
    makes the towers' batch normalisation synchronized across replicas
    (multi-worker training); it adds no weight, so checkpoints load either way.
    """
    spec = variant_spec(variant)

    def tower(domain: str) -> keras.Model:
        shape = grid.clip_shape(domain)
        return build_tower(f"{domain}_tower", *shape, widths, synchronized=synchronized)

    first = tower(spec.first)
    second = first if spec.shared else tower(spec.second)
    return SiameseModel(first, second, num_candidates, smoothing, name=variant.lower())
