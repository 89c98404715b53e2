"""Siamese models of the four variants of the paper, and their training step.

``MEL_MEL`` and ``SYM_SYM`` embed both clips of a pair with one tower (shared
weights); ``MEL_SYM`` and ``SYM_MEL`` have one tower per domain that do not share
weights (paper, section 3). At test time the first tower embeds clips.

``JOINT`` (the paper's future work) trains a mel tower and a roll tower into one
space: every pair is a clip and its neighbour in both domains, and the loss mixes
same-moment positives across domains, neighbour positives within each domain and
neighbour positives across domains (:class:`JointModel`).
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from tfembed.errors import ConfigError
from tfembed.features.framegrid import FrameGrid
from tfembed.features.pitch_classes import pitch_class_weights
from tfembed.models.feature_workers import FeatureTargets, FeatureWorker
from tfembed.models.losses import NEGATIVES, pair_loss
from tfembed.models.towers import PitchClassBranch, TowerDesign, build_tower


@dataclasses.dataclass(frozen=True)
class Variant:
    """Input domains of the two sides of a pair, and whether the towers share weights."""

    name: str
    first: str
    second: str
    joint: bool = False

    @property
    def batch_domains(self) -> tuple[str, ...]:
        """Domains of the clips of one training pair, in order (four for ``JOINT``)."""
        pair = (self.first, self.second)
        return pair * 2 if self.joint else pair

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
        Variant("JOINT", "mel", "roll", joint=True),
    )
}

PAPER_VARIANTS = ("MEL_MEL", "SYM_SYM", "MEL_SYM", "SYM_MEL")
"""The variants of the paper's Table 1."""


def variant_spec(variant: str) -> Variant:
    """The :class:`Variant` of a name.

    Raises:
        ConfigError: The name is not one of :data:`VARIANTS`.
    """
    if variant not in VARIANTS:
        raise ConfigError(f"unknown variant {variant!r}; one of {', '.join(VARIANTS)}")
    return VARIANTS[variant]


class SiameseModel(keras.Model):
    """Two towers (or one, shared) trained to put neighbouring clips close together.

    With projection heads (as in SimCLR), the loss acts on a small MLP after each
    tower; the towers' own outputs are the features that validation measures and
    export writes. With feature workers (:mod:`tfembed.models.feature_workers`),
    training adds their weighted loss; validation measures the pair loss alone.
    """

    def __init__(
        self,
        first_tower: keras.Model,
        second_tower: keras.Model,
        num_candidates: int,
        smoothing: float,
        negatives: str,
        heads: tuple[keras.Model, keras.Model] | None = None,
        workers: tuple[FeatureWorker, FeatureWorker] | None = None,
        worker_weight: float = 0.0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.first_tower = first_tower
        self.second_tower = second_tower
        self.num_candidates = num_candidates
        self.smoothing = smoothing
        self.negatives = negatives
        self.heads = heads
        self.workers = workers
        self.worker_weight = worker_weight

    def call(self, inputs, training: bool = False):
        """Embeds a pair ``(first, second)``; returns both float32 embeddings."""
        first, second = inputs
        return (
            self.first_tower(first, training=training),
            self.second_tower(second, training=training),
        )

    def loss_of_features(self, first: tf.Tensor, second: tf.Tensor) -> tf.Tensor:
        """The loss of the towers' outputs for a batch of pairs (through the heads if any)."""
        if self.heads is not None:
            first, second = self.heads[0](first), self.heads[1](second)
        return pair_loss(first, second, self.negatives, self.num_candidates, self.smoothing)

    def pair_loss(self, data, training: bool) -> tf.Tensor:
        """The loss of a batch of pairs ``(first, second)``."""
        return self.loss_of_features(*self(data, training=training))

    def training_losses(self, data) -> dict[str, tf.Tensor]:
        """The losses of a batch in training mode.

        Args:
            data: ``(first, second)`` clips of the pairs; with feature workers
                of the notes (``worker_targets = "notes"``), followed by the
                piano rolls ``(roll of first, roll of second)`` their targets
                come from.

        Returns:
            ``loss``, what the step minimises: the pair loss, plus with feature
            workers their weighted loss; with workers also ``pair_loss`` and
            ``feature_loss`` (the workers' mean, unweighted).
        """
        pair, targets = tuple(data[:2]), tuple(data[2:]) or tuple(data)
        first, second = self(pair, training=True)
        loss = self.loss_of_features(first, second)
        if self.workers is None:
            return {"loss": loss}
        feature_loss = tf.add_n(
            [
                worker.feature_loss(clips, embedding)
                for worker, clips, embedding in zip(
                    self.workers, targets, (first, second), strict=True
                )
            ]
        ) / len(self.workers)
        return {
            "loss": loss + self.worker_weight * feature_loss,
            "pair_loss": loss,
            "feature_loss": feature_loss,
        }

    def train_step(self, data) -> dict[str, tf.Tensor]:
        """One Adam step on a batch of pairs (the loss scaled under mixed precision).

        Returns:
            :meth:`training_losses` of the batch, before the step.
        """
        with tf.GradientTape() as tape:
            losses = self.training_losses(data)
            scaled = self.optimizer.scale_loss(losses["loss"])
        gradients = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables, strict=True))
        return losses


@dataclasses.dataclass(frozen=True)
class JointWeights:
    """Weights of the three kinds of positives of :class:`JointModel`, and their negatives.

    Attributes:
        same_moment: The mel clip and the roll clip of the same 3 seconds.
        within: Neighbouring clips in one domain (mel-mel and roll-roll, as
            MEL_MEL and SYM_SYM train).
        across: Neighbouring clips across domains (mel of clip i with the roll
            of clip i + 1, and the reverse, as MEL_SYM and SYM_MEL train).
        neighbour_negatives: Score the same-moment positives of both clips of
            every pair in one softmax, so that each clip's neighbour (the
            other clip of its pair, the rival a search inside a piece meets
            first) is among its negatives; otherwise each clip of a pair faces
            only the same clip of the other pairs.
        roll_gradient: Share of the cross-domain terms' gradient that reaches
            the roll tower. 1: both towers move towards each other; 0: the roll
            tower learns from its own neighbours alone (as SYM_SYM) and the mel
            tower learns to land on the roll clip of the same moment. A roll
            shared-space head, if any, gets the whole gradient.
    """

    same_moment: float = 1.0
    within: float = 1.0
    across: float = 1.0
    neighbour_negatives: bool = False
    roll_gradient: float = 1.0

    def __post_init__(self) -> None:
        values = (self.same_moment, self.within, self.across)
        if min(values) < 0 or sum(values) <= 0:
            raise ConfigError(
                "train.joint_same_moment, train.joint_within and train.joint_across must "
                f"be 0 or more and not all 0, not {values}"
            )
        if not 0.0 <= self.roll_gradient <= 1.0:
            raise ConfigError(
                f"train.joint_roll_gradient must lie in [0, 1], not {self.roll_gradient}"
            )


class JointModel(SiameseModel):
    """A mel tower and a roll tower trained into one space (the ``JOINT`` variant).

    A batch is ``(mel_i, roll_i, mel_j, roll_j)`` with ``j = i + 1``
    (:data:`tfembed.dataset.pairs.JOINT_LAYOUT`). The loss is the weighted sum
    of the pair loss over three kinds of positives (:class:`JointWeights`), each
    the mean of its two directions' terms. ``first_tower`` is the mel tower,
    ``second_tower`` the roll tower; :meth:`loss_of_features` (validation) is the
    same-moment loss between a mel and a roll embedding.
    """

    def __init__(
        self,
        *args,
        joint_weights: JointWeights = JointWeights(),
        shared_heads: tuple[keras.Model, keras.Model] | None = None,
        own_heads: tuple[keras.Model, keras.Model] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.joint_weights = joint_weights
        self.shared_heads = shared_heads
        self.own_heads = own_heads

    def to_shared_space(self, embeddings: tf.Tensor, domain: int) -> tf.Tensor:
        """Tower outputs of ``domain`` (0 mel, 1 roll) in the space both domains share.

        Without shared-space heads that space is the towers' own output; with
        them (``train.joint_shared_head``) it is each domain's head's output, and
        the towers' outputs stay the features of their own domain.
        """
        if self.shared_heads is None:
            return embeddings
        return self.shared_heads[domain](embeddings)

    def to_own_space(self, embeddings: tf.Tensor, domain: int) -> tf.Tensor:
        """Tower outputs of ``domain`` (0 mel, 1 roll) as features within that domain.

        Without own-space heads these are the towers' outputs; with them
        (``train.joint_own_head``) each domain's head's output, where the
        within-domain terms act.
        """
        if self.own_heads is None:
            return embeddings
        return self.own_heads[domain](embeddings)

    def call(self, inputs, training: bool = False):
        """Embeds ``(mel_i, roll_i, mel_j, roll_j)``; returns the four float32 embeddings."""
        mel_i, roll_i, mel_j, roll_j = inputs
        mel = self.first_tower(tf.concat([mel_i, mel_j], axis=0), training=training)
        roll = self.second_tower(tf.concat([roll_i, roll_j], axis=0), training=training)
        mel_i, mel_j = tf.split(mel, 2)
        roll_i, roll_j = tf.split(roll, 2)
        return mel_i, roll_i, mel_j, roll_j

    def _loss(self, left: tf.Tensor, left_domain: int, right: tf.Tensor, right_domain: int):
        if self.heads is not None:
            left, right = self.heads[left_domain](left), self.heads[right_domain](right)
        return pair_loss(left, right, self.negatives, self.num_candidates, self.smoothing)

    def loss_of_features(self, first: tf.Tensor, second: tf.Tensor) -> tf.Tensor:
        """The same-moment loss of mel tower outputs ``first`` against roll tower outputs."""
        return self._loss(self.to_shared_space(first, 0), 0, self.to_shared_space(second, 1), 1)

    def joint_losses(self, embeddings) -> dict[str, tf.Tensor]:
        """The loss of each kind of positive, and their weighted sum ``pair_loss``."""
        mel_i, roll_i, mel_j, roll_j = embeddings
        weights = self.joint_weights
        own = self.to_own_space
        losses = {
            "within_loss": (
                self._loss(own(mel_i, 0), 0, own(mel_j, 0), 0)
                + self._loss(own(roll_i, 1), 1, own(roll_j, 1), 1)
            )
            / 2
        }
        if weights.roll_gradient < 1.0:  # at the tower's output: a shared-space head learns fully
            roll_i = _damp_gradient(roll_i, weights.roll_gradient)
            roll_j = _damp_gradient(roll_j, weights.roll_gradient)
        mel_i, mel_j = self.to_shared_space(mel_i, 0), self.to_shared_space(mel_j, 0)
        roll_i, roll_j = self.to_shared_space(roll_i, 1), self.to_shared_space(roll_j, 1)
        if weights.neighbour_negatives:
            losses["same_moment_loss"] = self._loss(
                tf.concat([mel_i, mel_j], axis=0), 0, tf.concat([roll_i, roll_j], axis=0), 1
            )
        else:
            losses["same_moment_loss"] = (
                self._loss(mel_i, 0, roll_i, 1) + self._loss(mel_j, 0, roll_j, 1)
            ) / 2
        losses["across_loss"] = (
            self._loss(mel_i, 0, roll_j, 1) + self._loss(roll_i, 1, mel_j, 0)
        ) / 2
        losses["pair_loss"] = tf.add_n(
            [
                weight * losses[name]
                for name, weight in (
                    ("same_moment_loss", weights.same_moment),
                    ("within_loss", weights.within),
                    ("across_loss", weights.across),
                )
                if weight
            ]
        )
        return losses

    def pair_loss(self, data, training: bool) -> tf.Tensor:
        """The weighted loss of a batch ``(mel_i, roll_i, mel_j, roll_j)``."""
        return self.joint_losses(self(data, training=training))["pair_loss"]

    def training_losses(self, data) -> dict[str, tf.Tensor]:
        """The losses of a batch in training mode (see :meth:`SiameseModel.training_losses`).

        Returns:
            ``loss`` (minimised), ``pair_loss`` (the weighted sum) and each kind's
            loss; with feature workers also ``feature_loss``.
        """
        embeddings = self(data, training=True)
        losses = self.joint_losses(embeddings)
        loss = losses["pair_loss"]
        if self.workers is not None:
            losses["feature_loss"] = tf.add_n(
                [
                    self.workers[side % 2].feature_loss(clips, embedding)
                    for side, (clips, embedding) in enumerate(zip(data, embeddings, strict=True))
                ]
            ) / len(data)
            loss = loss + self.worker_weight * losses["feature_loss"]
        return {"loss": loss, **losses}


def _damp_gradient(values: tf.Tensor, share: float) -> tf.Tensor:
    """``values`` unchanged, with only ``share`` of their gradient passed back."""
    return share * values + (1.0 - share) * tf.stop_gradient(values)


def _projection_head(name: str, embedding_size: int, width: int) -> keras.Model:
    features = keras.Input([embedding_size], name=f"{name}_features")
    hidden = keras.layers.Dense(width, activation="relu", dtype="float32", name=f"{name}_hidden")
    output = keras.layers.Dense(embedding_size, dtype="float32", name=f"{name}_output")
    return keras.Model(features, output(hidden(features)), name=name)


def build_siamese(
    variant: str,
    grid: FrameGrid,
    design: TowerDesign | tuple[int, ...],
    num_candidates: int,
    smoothing: float,
    negatives: str,
    projection: int,
    synchronized: bool = False,
    pitch_classes: bool = False,
    feature_workers: float = 0.0,
    worker_targets: str = "own",
    joint_weights: JointWeights = JointWeights(),
    shared_head: int = 0,
    own_head: int = 0,
) -> SiameseModel:
    """Builds the siamese model of ``MEL_MEL``, ``SYM_SYM``, ``MEL_SYM``, ``SYM_MEL`` or ``JOINT``.

    Each tower's input is one clip of its domain on ``grid``
    (``[clip_frames, n_mels]`` or ``[clip_frames, n_pitches]``).

    Args:
        variant: The variant's name.
        grid: The frame grid.
        design: The towers' layers, or the widths of their convolution blocks
            (the paper's layers otherwise).
        num_candidates: ``|D|`` of the sampled loss.
        smoothing: Factor on the cosine similarity.
        negatives: ``sampled`` (the paper's) or ``in_batch``.
        projection: Hidden width of a projection head after each tower; 0 for none.
        synchronized: Synchronized batch normalisation across replicas in the
            towers (multi-worker training); it adds no weight, so checkpoints
            load either way.
        pitch_classes: Give each tower a pitch-class branch
            (:class:`tfembed.models.towers.PitchClassBranch`).
        feature_workers: Weight of the feature workers' loss
            (:mod:`tfembed.models.feature_workers`); 0 for no workers.
        worker_targets: ``own``: each worker predicts the hand-made features of
            its tower's clip; ``notes``: of the clip's piano roll, which a batch
            then carries after the pairs' clips (:meth:`SiameseModel.training_losses`).
        joint_weights: The mix of positives of ``JOINT`` (ignored by the others).
        shared_head: ``JOINT`` only: hidden width of a head after each tower that
            maps its output into the space both domains share, where the
            cross-domain terms act; 0 for none (the towers' outputs are that space).
        own_head: ``JOINT`` only: hidden width of a head after each tower where
            the within-domain terms act, whose output is the features of the
            tower's own domain; 0 for none (the towers' outputs are those features).

    Raises:
        ConfigError: An unknown variant or negatives, or ``shared_head`` or
            ``own_head`` for a variant other than ``JOINT``.
    """
    spec = variant_spec(variant)
    if not isinstance(design, TowerDesign):
        design = TowerDesign(tuple(design))
    if negatives not in NEGATIVES:
        raise ConfigError(f"train.negatives must be one of {NEGATIVES}, not {negatives!r}")
    for name, width in (("joint_shared_head", shared_head), ("joint_own_head", own_head)):
        if width and not spec.joint:
            raise ConfigError(f"train.{name} is for JOINT only, not {variant}")

    def tower(domain: str) -> keras.Model:
        shape = grid.clip_shape(domain)
        branch = None
        if pitch_classes:
            log_offset = grid.log_offset if domain == "mel" else None
            branch = PitchClassBranch(pitch_class_weights(grid, domain), log_offset)
        return build_tower(
            f"{domain}_tower",
            *shape,
            design,
            synchronized=synchronized,
            pitch_classes=branch,
        )

    first = tower(spec.first)
    second = first if spec.shared else tower(spec.second)
    heads = None
    if projection:
        size = int(first.output.shape[-1])
        first_head = _projection_head(f"{spec.first}_head", size, projection)
        second_head = (
            first_head if spec.shared else _projection_head(f"{spec.second}_head", size, projection)
        )
        heads = (first_head, second_head)
    workers = None
    if feature_workers:
        size = int(first.output.shape[-1])

        def worker(domain: str) -> FeatureWorker:
            targets = FeatureTargets("roll" if worker_targets == "notes" else domain, grid)
            return FeatureWorker(targets, size, name=f"{domain}_worker")

        first_worker = worker(spec.first)
        second_worker = first_worker if spec.shared else worker(spec.second)
        workers = (first_worker, second_worker)
    arguments = (first, second, num_candidates, smoothing, negatives, heads, workers)
    if spec.joint:
        size = int(first.output.shape[-1])

        def domain_heads(kind: str, width: int) -> tuple[keras.Model, keras.Model] | None:
            if not width:
                return None
            return tuple(
                _projection_head(f"{domain}_{kind}_head", size, width)
                for domain in (spec.first, spec.second)
            )

        return JointModel(
            *arguments,
            feature_workers,
            joint_weights=joint_weights,
            shared_heads=domain_heads("shared", shared_head),
            own_heads=domain_heads("own", own_head),
            name=variant.lower(),
        )
    return SiameseModel(*arguments, feature_workers, name=variant.lower())
