"""Training a siamese variant: resumable, seeded, safe on SIGINT/SIGTERM.

:func:`train` is the library function behind ``tfembed-train``. Running it again
on the same run folder resumes from the latest checkpoint (step, weights and
optimizer state); settings that define the model or the data must not change
(see :mod:`tfembed.training.resume`). SIGINT and SIGTERM make it save a
checkpoint and return after the current step.

Under ``train.distribution = 'multi_worker'`` every worker of the job calls
:func:`train` with the same arguments (``TF_CONFIG`` tells each its place); see
:mod:`tfembed.training.workers` for what the chief alone writes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import sys
import time
from pathlib import Path

import gin
import keras
import numpy as np
import tensorflow as tf

from tfembed.dataset.clips import load_clips
from tfembed.dataset.manifest import VALIDATION_SPLIT, PreparedDataset, open_dataset
from tfembed.dataset.pairs import count_pairs, neighbour_pairs
from tfembed.dataset.timbre import TimbreAugment
from tfembed.errors import ConfigError
from tfembed.models.siamese import variant_spec
from tfembed.training.checkpointing import BestCheckpoint, save_checkpoint, selection_metric
from tfembed.training.config import TrainConfig
from tfembed.training.determinism import run_ops_one_at_a_time
from tfembed.training.monitoring import clip_images, write_projector
from tfembed.training.resume import check_resume, run_record
from tfembed.training.run_folder import RunFolder
from tfembed.training.trainer import (
    Trainer,
    make_strategy,
    precision_policy,
    precision_policy_name,
)
from tfembed.training.validation import Validation, embed_in_chunks
from tfembed.training.workers import (
    WorkerCheckpoints,
    WorkerRole,
    weights_digest,
    with_shard_policy,
)
from tfembed.utils.atomic import write_bytes_atomically, write_json_atomically
from tfembed.utils.locking import hold_lock

PROJECTOR_CLIPS = 500


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """How a call of :func:`train` ended.

    Attributes:
        step: The last step trained.
        stopped_by_signal: The signal that stopped it early, or ``None`` (on a
            worker stopped because another worker was signalled: 0).
        metrics: The last validation metrics (empty without validation).
        is_chief: Whether this process wrote the run folder (always, unless
            multi-worker).
        weights_digest: SHA-256 of the final weights
            (:func:`tfembed.training.workers.weights_digest`); equal on every worker.
    """

    step: int
    stopped_by_signal: int | None
    metrics: dict[str, float]
    is_chief: bool = True
    weights_digest: str = ""


class _StopRequest:
    """Turns SIGINT/SIGTERM into a flag checked between steps."""

    def __init__(self) -> None:
        self.signal_number: int | None = None

    def __call__(self, signal_number: int, frame: object) -> None:
        self.signal_number = signal_number

    @contextlib.contextmanager
    def installed(self):
        """Installs the handler for the block's duration."""
        previous = {
            number: signal.signal(number, self) for number in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            yield self
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)


def _check_batch(dataset: PreparedDataset, config: TrainConfig, role: WorkerRole) -> None:
    """Refuses a batch larger than the training pairs (pairs would repeat in a batch).

    Under several workers the batch must also divide among them, each share
    holding the loss's ``num_candidates``.
    """
    if role.workers > 1:
        share, rest = divmod(config.batch_size, role.workers)
        if rest or share < config.num_candidates:
            raise ConfigError(
                f"train.batch_size = {config.batch_size} must divide among the "
                f"{role.workers} workers into shares of at least train.num_candidates "
                f"= {config.num_candidates} pairs; use a multiple of {role.workers} of at "
                f"least {role.workers * config.num_candidates}"
            )
    names = config.training_splits
    splits = f"{' and '.join(names)} split{'s' if len(names) > 1 else ''}"
    available = count_pairs(dataset, config.training_splits)
    if available == 0:
        raise ConfigError(f"{dataset.root}: no neighbour pairs in the {splits}")
    if config.batch_size > available:
        raise ConfigError(
            f"train.batch_size = {config.batch_size} is larger than the {available} "
            f"neighbour pairs of the {splits} of {dataset.root}; use at most {available}"
        )


def train(
    data_dir: str | os.PathLike | PreparedDataset,
    model_dir: str | os.PathLike,
    config: TrainConfig | None = None,
) -> TrainResult:
    """Trains (or resumes training) a siamese variant.

    Args:
        data_dir: A dataset prepared by ``tfembed-prepare`` (or one opened).
        model_dir: Run folder: checkpoints, TensorBoard logs, settings.
        config: The settings; ``None`` takes them from gin (``train.NAME``).

    Returns:
        The last step, the signal that stopped training early if any, and the
        last validation metrics.

    Raises:
        TfembedError: Bad settings, a dataset or run folder that cannot be
            used, a resume with settings that change the model or the data, or
            another process training in the same folder (``LockError``, naming
            its PID).
    """
    config = config or TrainConfig()
    # Set before TensorFlow starts; said only once the settings are known to be good.
    reproducible = (
        not config.deterministic or config.distribution != "default" or run_ops_one_at_a_time()
    )
    # MultiWorkerMirroredStrategy must exist before any other TensorFlow operation.
    strategy = make_strategy(config.distribution)
    role = WorkerRole.of(strategy)
    dataset = open_dataset(data_dir)
    run = RunFolder.at(model_dir)
    record = run_record(config, dataset)
    _check_batch(dataset, config, role)
    if not role.is_chief:  # only the chief locks and writes the run folder
        return _train_locked(config, dataset, run, record, strategy, role, reproducible)
    with hold_lock(run.path, "training run"):
        return _train_locked(config, dataset, run, record, strategy, role, reproducible)


def _train_locked(
    config: TrainConfig,
    dataset: PreparedDataset,
    run: RunFolder,
    record: dict,
    strategy: tf.distribute.Strategy,
    role: WorkerRole,
    reproducible: bool,
) -> TrainResult:
    """The part of :func:`train` that runs while the chief holds the run folder's lock."""
    resume_from = check_resume(run, record)
    if not reproducible:
        print(
            "note: TensorFlow already runs ops in parallel in this process, so this seeded "
            "run is not bit-reproducible; train in a fresh process (tfembed-train) for that",
            file=sys.stderr,
        )
    keras.utils.set_random_seed(config.seed)
    with precision_policy(precision_policy_name(config.mixed_precision)):
        trainer = Trainer(config, dataset.grid, strategy)
        if resume_from is not None:
            step = trainer.restore(resume_from)
            print(
                f"resuming {run.path} from step {step}"
                + ("" if role.is_chief else f" ({role.name})")
            )
        if role.is_chief:
            # Nothing but the lock is written in the run folder before the restore succeeded.
            write_json_atomically(run.record, record)
            write_bytes_atomically(run.operative_config, [gin.operative_config_str().encode()])
        return _loop(trainer, dataset, run, role)


def _loop(
    trainer: Trainer, dataset: PreparedDataset, run: RunFolder, role: WorkerRole
) -> TrainResult:
    config = trainer.config
    spec = variant_spec(config.variant)
    manager = WorkerCheckpoints(trainer.checkpoint, run.checkpoints, role, max_to_keep=3)
    best = BestCheckpoint(trainer.checkpoint, run, role, selection_metric(spec))
    validation = _validation(dataset, config, role)
    iterator = _training_pairs(trainer, dataset, role)
    writer = (
        tf.summary.create_file_writer(str(run.logs))
        if role.is_chief
        else tf.summary.create_noop_writer()
    )
    step = int(trainer.step.numpy())
    with writer.as_default():
        _log_start(validation, step)
    progress = _Progress(config, step, time.perf_counter())
    stop = _StopRequest()
    stopped = False
    with stop.installed(), writer.as_default():
        if step == 0 and validation.available:  # the untrained tower, a reference only
            _validate(validation, trainer, None, step)
        while step < config.steps and not stopped:
            losses, stops = trainer.agreed_step(
                next(iterator), tf.constant(float(stop.signal_number is not None))
            )
            stopped = float(stops) > 0
            step += 1
            progress.log_losses(losses, trainer, step)
            if step % config.validate_every == 0 or step == config.steps:
                progress.validate(validation, trainer, best, step)
            if step % config.checkpoint_every == 0:
                save_checkpoint(manager, step)
        save_checkpoint(manager, step)
    if role.is_chief:
        _write_projector(trainer, dataset, spec.first, run.logs)
    signal_number = _stop_cause(stop, stopped, step)
    return TrainResult(
        step, signal_number, progress.metrics, role.is_chief, weights_digest(trainer.model)
    )


def _validation(dataset: PreparedDataset, config: TrainConfig, role: WorkerRole) -> Validation:
    """The fixed validation sample; says so when the dataset has too few pairs for it."""
    validation = Validation(
        dataset, variant_spec(config.variant), config.validation_pairs, config.seed
    )
    if not validation.available and role.is_chief:
        print(
            f"note: {dataset.root} has fewer than the validation pairs needed; training "
            "without validation, and the best checkpoint is the latest",
            file=sys.stderr,
        )
    return validation


def _rendering_positions(dataset: PreparedDataset, names: tuple[str, ...]) -> tuple[int, ...]:
    """Positions of the named renderings in the dataset's records; the reference for none.

    Raises:
        tfembed.errors.DatasetError: The dataset lacks one of them.
    """
    return tuple(dataset.rendering_index(name) for name in names) or (0,)


def _training_pairs(trainer: Trainer, dataset: PreparedDataset, role: WorkerRole):
    """An iterator over the distributed batches of training pairs, this worker's share."""
    config = trainer.config
    spec = variant_spec(config.variant)
    pairs = neighbour_pairs(
        dataset,
        config.training_splits,
        spec.first,
        spec.second,
        config.batch_size,
        seed=config.seed,
        spec_augment=config.spec_augment,
        gain_db=config.gain_db,
        timbre_augment=TimbreAugment() if config.timbre_augment else None,
        renderings=_rendering_positions(dataset, config.renderings),
        same_moment=config.same_moment_pairs,
        synth_instruments=config.synth_instruments,
        joint=spec.joint,
        note_rolls=bool(config.feature_workers) and config.worker_targets == "notes",
    )
    shards = len(dataset.shard_paths(*config.training_splits))
    pairs = with_shard_policy(pairs, shards, role.workers)
    return iter(trainer.strategy.experimental_distribute_dataset(pairs))


def _log_start(validation: Validation, step: int) -> None:
    """Logs the operative config and, with validation, example clips of each side."""
    tf.summary.text("operative_config", gin.operative_config_str(), step=step)
    if validation.available:
        spec = validation.variant
        for side, domain in (("first", spec.first), ("second", spec.second)):
            clips = getattr(validation.sample, side)[domain][:4]
            tf.summary.image(f"examples/{side}_{domain}", clip_images(clips), step=0)


class _Progress:
    """The training-loss means since the last log, the speed, the latest validation."""

    def __init__(self, config: TrainConfig, step: int, started: float):
        self._config = config
        self._trackers: dict[str, keras.metrics.Mean] = {}
        self._started, self._started_step = started, step
        self.metrics: dict[str, float] = {}

    def log_losses(self, losses: dict[str, tf.Tensor], trainer: Trainer, step: int) -> None:
        """Adds a step's losses; every ``log_every`` steps, logs their means and the rate."""
        for name, value in losses.items():
            self._trackers.setdefault(name, keras.metrics.Mean()).update_state(value)
        if step % self._config.log_every == 0 or step == self._config.steps:
            for name, tracker in self._trackers.items():
                tf.summary.scalar(f"train/{name}", tracker.result(), step=step)
                tracker.reset_state()
            tf.summary.scalar("train/learning_rate", trainer.learning_rate(), step=step)

    def validate(
        self, validation: Validation, trainer: Trainer, best: BestCheckpoint, step: int
    ) -> None:
        """Logs the speed, validates where possible, prints both."""
        elapsed = time.perf_counter() - self._started
        pairs_per_second = (step - self._started_step) * self._config.batch_size / elapsed
        tf.summary.scalar("train/pairs_per_second", pairs_per_second, step=step)
        if validation.available:
            self.metrics = _validate(validation, trainer, best, step)
        print(
            f"step {step}: {pairs_per_second:.1f} pairs/s"
            + "".join(f", {name} {value:.3f}" for name, value in self.metrics.items())
        )


def _stop_cause(stop: _StopRequest, stopped: bool, step: int) -> int | None:
    """The signal that stopped the run (0: another worker's), said; None if it ran out."""
    signal_number = (
        stop.signal_number if stop.signal_number is not None else (0 if stopped else None)
    )
    if signal_number is not None:
        cause = f"signal {signal_number}" if signal_number else "another worker's signal"
        print(
            f"stopped by {cause} at step {step}; checkpoint saved, run the same command to resume"
        )
    return signal_number


def _validate(
    validation: Validation, trainer: Trainer, best: BestCheckpoint | None, step: int
) -> dict[str, float]:
    """Measures and logs; offers the model as the best checkpoint unless ``best`` is None."""
    metrics = validation.measure(trainer.model)
    for name, value in metrics.items():
        tf.summary.scalar(name, value, step=step)
    if best is not None:
        best.offer(metrics, step)
    return metrics


def _write_projector(
    trainer: Trainer, dataset: PreparedDataset, domain: str, log_dir: Path
) -> None:
    """Embeds the first validation clips with the test-time tower for the projector."""
    clips = list(load_clips(dataset, VALIDATION_SPLIT).take(PROJECTOR_CLIPS).as_numpy_iterator())
    if not clips:
        return
    inputs = np.stack([clip[domain] for clip in clips])
    embeddings = embed_in_chunks(trainer.model.first_tower, inputs).numpy()
    write_projector(log_dir, embeddings, [clip["composer_name"].decode() for clip in clips])
