"""The training settings: one frozen dataclass, bound from gin as ``train.NAME``.

Every default lives here and nowhere else, and the defaults are our recipe (in-batch
negatives, 100 warm-up steps then cosine decay, 3000 steps, the train and pretrain
splits). The gin files (``configs/``) set what a variant changes (``mel_mel.gin``:
the variant and its feature workers); ``configs/paper.gin``, appended after a
variant config, pins the paper's recipe. ``tfembed-train --gin_param
'train.steps = 500'`` binds a field.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gin

from tfembed.dataset.manifest import PRETRAIN_SPLIT, TRAIN_SPLIT
from tfembed.errors import ConfigError
from tfembed.models.losses import NEGATIVES
from tfembed.models.siamese import JointWeights, variant_spec
from tfembed.models.towers import DEFAULT_WIDTHS, TowerDesign

PRECISIONS = ("auto", "float32", "mixed_float16")
SCHEDULES = ("constant", "cosine")
DISTRIBUTIONS = ("default", "mirrored", "multi_worker")
WORKER_TARGETS = ("own", "notes")

NOT_RECIPE_FIELDS = ("seed", "deterministic")
"""Fields that do not change what a recipe learns: runs differing only here are seeds of one."""

MODEL_FIELDS = (
    "variant",
    "widths",
    "num_candidates",
    "smoothing",
    "negatives",
    "projection",
    "pitch_classes",
    "feature_workers",
    "worker_targets",
    "multilevel",
    "pool_before_norm",
    "input_norm_affine",
)
"""Fields that define the model: a resumed run must keep them."""

UNRECORDED_SETTINGS = {
    "negatives": "sampled",
    "lr_schedule": "constant",
    "warmup_steps": 0,
    "pool_before_norm": False,
    "input_norm_affine": True,
}
"""What a recorded config (``run.json``, an export's metadata) that lacks these fields
ran with: they came after it, when the paper's recipe and tower were the only ones.
They differ from today's defaults."""


@gin.configurable("train")
@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run.

    Attributes:
        variant: ``MEL_MEL``, ``SYM_SYM``, ``MEL_SYM`` or ``SYM_MEL``.
        steps: Total training steps (a resumed run stops at the same total).
        batch_size: Pairs per step.
        learning_rate: Adam learning rate (the peak of a schedule).
        lr_schedule: ``constant`` (the paper's) or ``cosine``: cosine decay to 0
            at ``steps`` after ``warmup_steps`` of linear warm-up. Warm-up and
            cosine with 3000 steps on the train and pretrain splits were measured
            as a whole (MEL_MEL, 3 training seeds, default corpus test split):
            rank@100 AM / GM 3.46 / 2.07, against 4.34 / 2.37 on the train split
            alone; the schedule alone was not compared at 3000 steps (at 800 it
            tied with a constant rate).
        warmup_steps: Steps of linear warm-up before the cosine decay; a run of
            fewer steps warms up over all of them.
        negatives: ``sampled``: ``|D| - 1`` negatives drawn from the batch, the
            paper's semantic relevance loss; ``in_batch``: every other pair of the
            batch, symmetric InfoNCE (as COLA and CLMR). Measured by
            ``tools/experiments/ablate.py`` (MEL_MEL, 800 steps, 3 training seeds x
            3 probe seeds, default corpus, test split): rank@100 AM / GM 8.07 /
            3.78 with ``in_batch``, significantly better than the paper's recipe;
            composer and key micro-F1 tied with it.
        num_candidates: ``|D|`` of the sampled loss: the positive plus ``|D| - 1``
            negatives from the batch (paper: 4).
        smoothing: Factor on the cosine similarity in the loss. Measured
            (MEL_MEL, 300 steps, one seed, validation rank@100 AM): 5 -> 11.8,
            10 -> 10.0, 20 -> 10.1.
        widths: Channels of the tower's convolution blocks.
        projection: Hidden width of a projection head (as in SimCLR) between
            the tower and the loss; 0 for none. Exports and validation use the
            tower's output, before the head.
        pitch_classes: A pitch-class branch in each tower (the clip folded onto
            the 12 pitch classes, beside the convolutions); exported with the tower.
        feature_workers: Weight of an auxiliary loss in which a linear worker on
            each tower's embedding predicts the hand-made features of its clip
            (band statistics and chroma; pitch-class histogram, onsets, polyphony),
            as PASE does (:mod:`tfembed.models.feature_workers`); 0 for none.
            Training-only: exports hold the towers.
        worker_targets: What the feature workers predict: ``own``, the hand-made
            features of each tower's own clip; ``notes``, those of the clip's
            piano roll for every tower (pitch classes, range, onsets, polyphony),
            which stay the same whatever instrument or room plays the clip,
            where a mel clip's band statistics move with them.
        multilevel: The embedding reads the averaged activations of every
            convolution block, not only the last (multi-level features, Choi et
            al. 2017); exported with the tower.
        pool_before_norm: Each convolution block pools before its batch norm
            and ReLU, which then pass over a quarter of the values (a cheaper
            step on a CPU; :class:`tfembed.models.towers.TowerDesign`). Off,
            the paper's order (norm, ReLU, pooling). ``multilevel`` needs it off.
        input_norm_affine: The input's batch norm learns a scale and an offset
            (the paper's tower); off (the default), the first convolution needs
            no gradient with respect to the input.
        checkpoint_every: Steps between checkpoints (one is saved at the end).
        validate_every: Steps between validation loss and rank@100.
        log_every: Steps between training-loss summaries (the mean since the last).
        validation_pairs: Pairs of the fixed validation sample, drawn from every
            validation piece.
        seed: Seeds the weights, the pair shuffle, the negatives and augmentation.
        deterministic: Run one TensorFlow op at a time, so that the same seed gives
            the same weights on the same machine (see
            :mod:`tfembed.training.determinism`; about 5% slower on 2 CPU cores). Only
            under ``distribution = 'default'``: distributed replicas must run in
            parallel. Verified on CPU; GPU kernels have nondeterminism of their own.
        mixed_precision: ``auto`` (mixed_float16 on GPU, float32 on CPU),
            ``float32`` or ``mixed_float16``.
        distribution: ``default`` (one device), ``mirrored`` (all GPUs of a box)
            or ``multi_worker`` (several processes or machines, from ``TF_CONFIG``;
            ``batch_size`` is the global batch, divided among the workers).
        spec_augment: SpecAugment-style masking of training mel clips.
        gain_db: Random gain of every training mel clip, uniform in
            ``[-gain_db, gain_db]`` dB and drawn per clip, so that level (shared
            by neighbours, set per piece by peak normalisation) is no shortcut;
            0 for none.
        pretrain: Also train on the dataset's ``pretrain`` split where it has one
            (``tfembed-prepare --pretrain_pieces_per_composer``: works held out of
            every evaluation split).
        renderings: Names of the dataset's renderings (``tfembed-prepare
            --soundfonts``) training mel clips are drawn from, each clip of a pair
            its own; empty for the reference rendering alone. A rendering left out
            here is one the model never hears: the held-out renderer of the
            robustness evaluation. Validation always uses the reference.
        same_moment_pairs: Share of MEL_MEL pairs whose positive is the query's
            own clip in another of ``renderings`` instead of its neighbour.
        timbre_augment: Draw recording conditions for every training mel clip
            (room, EQ, low-pass, noise, gain: the default chain of
            :class:`tfembed.dataset.timbre.TimbreAugment`).
        synth_instruments: Share of training clips whose mel is their piano roll
            played on a synthetic instrument drawn for the clip
            (:mod:`tfembed.dataset.synth`) instead of a rendering; the recording
            conditions of ``timbre_augment`` still follow. Not with
            ``same_moment_pairs``.
        joint_same_moment: ``JOINT`` only: weight of the same-moment positives
            across domains (the mel and the roll clip of the same 3 seconds).
        joint_within: ``JOINT`` only: weight of neighbour positives within each
            domain (mel-mel, roll-roll).
        joint_across: ``JOINT`` only: weight of neighbour positives across domains.
        joint_neighbour_negatives: ``JOINT`` only: each clip's neighbour is a
            negative of its same-moment positive (both clips of every pair in
            one softmax; :class:`tfembed.models.siamese.JointWeights`).
        joint_roll_gradient: ``JOINT`` only: share of the cross-domain terms'
            gradient that reaches the roll tower (1: all; 0: the roll tower
            learns from its own neighbours alone and the mel tower learns to
            land on it).
        joint_shared_head: ``JOINT`` only: hidden width of a head after each
            tower into the space both domains share, where the cross-domain
            terms act; the towers' own outputs then serve their own domain.
            0 for none: the towers' outputs are the shared space.
        joint_own_head: ``JOINT`` only: hidden width of a head after each tower
            where the within-domain terms act; its output serves the tower's own
            domain (probes, neighbours) and the towers' outputs the shared space.
            0 for none: the towers' outputs serve both.
    """

    variant: str = ""
    steps: int = 3000
    batch_size: int = 32
    learning_rate: float = 1e-3
    lr_schedule: str = "cosine"
    warmup_steps: int = 100
    negatives: str = "in_batch"
    num_candidates: int = 4
    smoothing: float = 10.0
    widths: tuple[int, ...] = DEFAULT_WIDTHS
    projection: int = 0
    pitch_classes: bool = False
    feature_workers: float = 0.0
    worker_targets: str = "own"
    multilevel: bool = False
    pool_before_norm: bool = True
    input_norm_affine: bool = False
    checkpoint_every: int = 200
    validate_every: int = 200
    log_every: int = 20
    validation_pairs: int = 512
    seed: int = 0
    deterministic: bool = True
    mixed_precision: str = "auto"
    distribution: str = "default"
    spec_augment: bool = False
    gain_db: float = 0.0
    pretrain: bool = True
    renderings: tuple[str, ...] = ()
    same_moment_pairs: float = 0.0
    timbre_augment: bool = False
    synth_instruments: float = 0.0
    joint_same_moment: float = 1.0
    joint_within: float = 1.0
    joint_across: float = 1.0
    joint_neighbour_negatives: bool = False
    joint_roll_gradient: float = 1.0
    joint_shared_head: int = 0
    joint_own_head: int = 0

    @property
    def training_splits(self) -> tuple[str, ...]:
        """The dataset splits the training pairs come from."""
        return self.splits_read(self.pretrain)

    @staticmethod
    def splits_read(pretrain: bool) -> tuple[str, ...]:
        """The dataset splits training reads, with or without ``train.pretrain``."""
        return (TRAIN_SPLIT, PRETRAIN_SPLIT) if pretrain else (TRAIN_SPLIT,)

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(int(width) for width in self.widths))
        object.__setattr__(self, "renderings", tuple(str(name) for name in self.renderings))
        if not self.variant:
            raise ConfigError("train.variant is not set: add --config mel_mel.gin (or another)")
        variant_spec(self.variant)
        for name in ("steps", "batch_size", "checkpoint_every", "validate_every", "log_every"):
            minimum = 0 if name == "steps" else 1
            if getattr(self, name) < minimum:
                raise ConfigError(
                    f"train.{name} must be at least {minimum}, not {getattr(self, name)}"
                )
        if self.num_candidates < 2:
            raise ConfigError(f"train.num_candidates must be at least 2, not {self.num_candidates}")
        if self.num_candidates > self.batch_size:
            raise ConfigError(
                f"train.num_candidates ({self.num_candidates}) cannot exceed "
                f"train.batch_size ({self.batch_size}): negatives come from the batch"
            )
        if self.lr_schedule not in SCHEDULES:
            raise ConfigError(
                f"train.lr_schedule must be one of {SCHEDULES}, not {self.lr_schedule!r}"
            )
        if self.warmup_steps < 0:
            raise ConfigError(f"train.warmup_steps must be at least 0, not {self.warmup_steps}")
        if self.negatives not in NEGATIVES:
            raise ConfigError(f"train.negatives must be one of {NEGATIVES}, not {self.negatives!r}")
        if self.projection < 0:
            raise ConfigError(f"train.projection must be 0 or a width, not {self.projection}")
        if self.feature_workers < 0:
            raise ConfigError(
                f"train.feature_workers must be 0 (none) or a weight, not {self.feature_workers}"
            )
        if self.worker_targets not in WORKER_TARGETS:
            raise ConfigError(
                f"train.worker_targets must be one of {WORKER_TARGETS}, not {self.worker_targets!r}"
            )
        if self.worker_targets == "notes" and variant_spec(self.variant).joint:
            raise ConfigError(
                "train.worker_targets = 'notes' is not for JOINT, whose roll tower reads the notes"
            )
        if self.gain_db < 0:
            raise ConfigError(f"train.gain_db must be 0 (no gain) or more, not {self.gain_db}")
        if len(set(self.renderings)) != len(self.renderings):
            raise ConfigError(f"train.renderings lists a rendering twice: {self.renderings}")
        if not 0.0 <= self.same_moment_pairs <= 1.0:
            raise ConfigError(
                f"train.same_moment_pairs must lie in [0, 1], not {self.same_moment_pairs}"
            )
        if self.same_moment_pairs > 0 and (
            len(self.renderings) < 2
            or (variant_spec(self.variant).first, variant_spec(self.variant).second)
            != ("mel", "mel")
        ):
            raise ConfigError(
                "train.same_moment_pairs needs MEL_MEL and two train.renderings or more"
            )
        if not 0.0 <= self.synth_instruments <= 1.0 or (
            self.synth_instruments and self.same_moment_pairs
        ):
            raise ConfigError(
                f"train.synth_instruments must lie in [0, 1] and not go with "
                f"train.same_moment_pairs, not {self.synth_instruments}"
            )
        self.joint_weights()
        if self.multilevel and self.pool_before_norm:
            raise ConfigError(
                "train.pool_before_norm does not combine with train.multilevel, which "
                "averages each block's activations before its pooling; add "
                "train.pool_before_norm = False (the paper's order of the layers)"
            )
        for name in ("joint_shared_head", "joint_own_head"):
            if getattr(self, name) < 0:
                raise ConfigError(f"train.{name} must be 0 or a width, not {getattr(self, name)}")
        if self.mixed_precision not in PRECISIONS:
            raise ConfigError(
                f"train.mixed_precision must be one of {PRECISIONS}, not {self.mixed_precision!r}"
            )
        if self.distribution not in DISTRIBUTIONS:
            raise ConfigError(
                f"train.distribution must be one of {DISTRIBUTIONS}, not {self.distribution!r}"
            )

    def tower_design(self) -> TowerDesign:
        """The layers of the towers."""
        return TowerDesign(
            self.widths, self.multilevel, self.pool_before_norm, self.input_norm_affine
        )

    def joint_weights(self) -> JointWeights:
        """The mix of positives of the ``JOINT`` variant.

        Raises:
            ConfigError: A negative weight, or all of them 0.
        """
        return JointWeights(
            self.joint_same_moment,
            self.joint_within,
            self.joint_across,
            self.joint_neighbour_negatives,
            self.joint_roll_gradient,
        )

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready values."""
        values = dataclasses.asdict(self)
        values["widths"] = list(self.widths)
        values["renderings"] = list(self.renderings)
        return values

    @classmethod
    def recorded_with_defaults(cls, values: dict[str, Any]) -> dict[str, Any]:
        """A recorded config (``run.json``, an export's metadata), completed with defaults.

        A setting that an older run does not record counts as what that run used:
        :data:`UNRECORDED_SETTINGS` where it says, else the default.
        """
        defaults = {field.name: field.default for field in dataclasses.fields(cls)}
        defaults["widths"] = list(defaults["widths"])
        defaults["renderings"] = list(defaults["renderings"])
        return {**defaults, **UNRECORDED_SETTINGS, **values}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Rebuilds recorded settings (:meth:`to_dict`, unknown keys ignored).

        A setting the record lacks is what that run used
        (:meth:`recorded_with_defaults`), not today's default: an older run
        rebuilds the tower it trained.
        """
        names = {field.name for field in dataclasses.fields(cls)}
        completed = cls.recorded_with_defaults(values)
        return cls(**{key: value for key, value in completed.items() if key in names})
