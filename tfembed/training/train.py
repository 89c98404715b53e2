"""Training a siamese variant: resumable checkpoints, TensorBoard, safe on SIGINT/SIGTERM.

:func:`train` is configured with gin (``configs/*.gin``) and is the library function
behind ``tfembed-train``. Running it again on the same ``model_dir`` resumes from
the latest checkpoint (step, weights and optimizer state). SIGINT and SIGTERM make
it save a checkpoint and return after the current step.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path

import gin
import keras
import numpy as np
import tensorflow as tf

from tfembed.atomic import write_bytes_atomically, write_json_atomically
from tfembed.dataset.clips import grid_of, load_clips, read_manifest
from tfembed.dataset.pairs import neighbour_pairs
from tfembed.models.losses import semantic_relevance_loss
from tfembed.models.ranking import RANK_CANDIDATES, draw_rivals, neighbour_ranks
from tfembed.models.siamese import VARIANTS, build_siamese
from tfembed.training.monitoring import clip_images, write_projector

OPERATIVE_CONFIG_NAME = "operative_config.gin"
BEST_DIR = "best"
"""Run subfolder holding the checkpoint with the best validation rank@100 so far."""
BEST_RECORD = "best.json"
BEST_METRIC = "validation/rank_at_100_am"
VALIDATION_PAIRS = 512
VALIDATION_MIN_PAIRS = 20
VALIDATION_CHUNK = 64
"""Fewer validation pairs than this and the run is trained without validation."""
PROJECTOR_CLIPS = 500


def _precision_policy(mixed_precision: str) -> str:
    if mixed_precision not in ("auto", "float32", "mixed_float16"):
        raise ValueError(
            f"train.mixed_precision must be 'auto', 'float32' or 'mixed_float16', "
            f"not {mixed_precision!r}"
        )
    if mixed_precision == "auto":
        return "mixed_float16" if tf.config.list_physical_devices("GPU") else "float32"
    return mixed_precision


def _strategy(distribution: str) -> tf.distribute.Strategy:
    if distribution == "default":
        return tf.distribute.get_strategy()
    if distribution == "mirrored":
        return tf.distribute.MirroredStrategy()
    raise ValueError(f"train.distribution must be 'default' or 'mirrored', not {distribution!r}")


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


@gin.configurable(denylist=["data_dir", "model_dir"])
def train(
    data_dir: str | os.PathLike,
    model_dir: str | os.PathLike,
    variant: str = gin.REQUIRED,
    steps: int = 3000,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    num_candidates: int = 4,
    smoothing: float = 10.0,
    widths: tuple[int, ...] = (16, 32, 64, 64, 128),
    checkpoint_every: int = 200,
    validate_every: int = 200,
    mixed_precision: str = "auto",
    distribution: str = "default",
    spec_augment: bool = False,
) -> dict[str, float]:
    """Trains (or resumes training) a siamese variant.

    Args:
        data_dir: A dataset prepared by ``tfembed-prepare``.
        model_dir: Run folder: checkpoints, TensorBoard logs, operative config.
        variant: ``MEL_MEL``, ``SYM_SYM``, ``MEL_SYM`` or ``SYM_MEL``.
        steps: Total training steps (a resumed run stops at the same total).
        batch_size: Pairs per step.
        learning_rate: Adam learning rate.
        num_candidates: ``|D|`` of the loss.
        smoothing: Smoothing factor of the loss.
        widths: Channels of the tower's convolution blocks.
        checkpoint_every: Steps between checkpoints (one is always saved at the end).
        validate_every: Steps between validation loss and rank@100.
        mixed_precision: ``auto`` (mixed_float16 on GPU, float32 on CPU),
            ``float32`` or ``mixed_float16``.
        distribution: ``default`` (one device) or ``mirrored`` (all GPUs).
        spec_augment: SpecAugment-style masking of training mel clips.

    Returns:
        The last step and the last validation metrics.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown train.variant {variant!r}; one of {', '.join(VARIANTS)}")
    spec = VARIANTS[variant]
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    grid = grid_of(read_manifest(data_dir))
    write_bytes_atomically(model_dir / OPERATIVE_CONFIG_NAME, [gin.operative_config_str().encode()])
    policy = _precision_policy(mixed_precision)
    keras.mixed_precision.set_global_policy(policy)
    strategy = _strategy(distribution)
    with strategy.scope():
        model = build_siamese(
            variant, grid.clip_frames, grid.n_mels, tuple(widths), num_candidates, smoothing
        )
        optimizer = keras.optimizers.Adam(learning_rate)
        if policy == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        model.compile(optimizer=optimizer)
        model.build([(None, grid.clip_frames, grid.n_mels)] * 2)
        optimizer.build(model.trainable_variables)
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step)
    manager = tf.train.CheckpointManager(checkpoint, model_dir / "checkpoints", max_to_keep=3)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        print(f"resuming {model_dir} from step {int(step.numpy())}")
    best = _BestCheckpoint(checkpoint, model_dir / BEST_DIR)

    train_pairs = strategy.experimental_distribute_dataset(
        neighbour_pairs(
            data_dir, "train", spec.first, spec.second, batch_size, spec_augment=spec_augment
        )
    )
    validation = next(
        iter(
            neighbour_pairs(
                data_dir,
                "validation",
                spec.first,
                spec.second,
                VALIDATION_PAIRS,
                shuffle_buffer=0,
                repeat=False,
                drop_remainder=False,
            )
        ),
        None,
    )
    rivals = None
    if validation is not None and len(validation[0]) > VALIDATION_MIN_PAIRS:
        pair_count = len(validation[0])
        rivals = tf.constant(
            draw_rivals(
                pair_count,
                np.arange(pair_count)[:, np.newaxis],
                candidates=min(RANK_CANDIDATES, pair_count),
            )
        )
    else:
        validation = None

    @tf.function
    def train_step(batch):
        results = strategy.run(model.train_step, args=(batch,))
        return strategy.reduce(tf.distribute.ReduceOp.MEAN, results["loss"], axis=None)

    writer = tf.summary.create_file_writer(str(model_dir / "logs"))
    with writer.as_default():
        tf.summary.text("operative_config", gin.operative_config_str(), step=0)
        if validation is not None:
            tf.summary.image(f"examples/{spec.first}", clip_images(validation[0][:4]), step=0)
            tf.summary.image(f"examples/{spec.second}", clip_images(validation[1][:4]), step=0)
    metrics: dict[str, float] = {}
    stop = _StopRequest()
    iterator = iter(train_pairs)
    started, started_step = time.perf_counter(), int(step.numpy())
    with stop.installed(), writer.as_default():
        while int(step.numpy()) < steps and stop.signal_number is None:
            model.loss_tracker.reset_state()
            loss = float(train_step(next(iterator)))
            step.assign_add(1)
            current = int(step.numpy())
            tf.summary.scalar("train/loss", loss, step=current)
            if current % validate_every == 0 or current == steps:
                elapsed = time.perf_counter() - started
                tf.summary.scalar(
                    "train/pairs_per_second",
                    (current - started_step) * batch_size / elapsed,
                    step=current,
                )
                tf.summary.scalar("train/learning_rate", float(learning_rate), step=current)
                metrics = _validate(model, validation, rivals, current)
                best.offer(metrics, current)
                print(
                    f"step {current}: train loss {loss:.4f}, "
                    + ", ".join(f"{name} {value:.3f}" for name, value in metrics.items())
                )
            if current % checkpoint_every == 0:
                manager.save(checkpoint_number=current)
        manager.save(checkpoint_number=int(step.numpy()))
    _write_projector(model, data_dir, spec.first, model_dir / "logs")
    if stop.signal_number is not None:
        print(
            f"stopped by signal {stop.signal_number} at step {int(step.numpy())}; "
            "checkpoint saved, run the same command to resume"
        )
    keras.mixed_precision.set_global_policy("float32")
    return {
        "step": float(step.numpy()),
        "stopped_by_signal": float(bool(stop.signal_number)),
        **metrics,
    }


class _BestCheckpoint:
    """Keeps the checkpoint with the lowest validation rank@100 (AM), across resumes."""

    def __init__(self, checkpoint: tf.train.Checkpoint, directory: Path) -> None:
        self.manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=1)
        self.record = directory / BEST_RECORD
        self.value = (
            json.loads(self.record.read_text())[BEST_METRIC]
            if self.record.exists() and self.manager.latest_checkpoint
            else float("inf")
        )

    def offer(self, metrics: dict[str, float], step: int) -> None:
        """Saves the model when its validation rank@100 is the best so far."""
        if metrics.get(BEST_METRIC, float("inf")) < self.value:
            self.value = metrics[BEST_METRIC]
            self.manager.save(checkpoint_number=step)
            write_json_atomically(self.record, {"step": step, BEST_METRIC: self.value})


def _write_projector(model, data_dir, domain: str, log_dir: Path) -> None:
    """Embeds the first validation clips with the test-time tower for the projector."""
    clips = list(load_clips(data_dir, "validation").take(PROJECTOR_CLIPS).as_numpy_iterator())
    if not clips:
        return
    inputs = np.stack([clip[domain] for clip in clips])
    embeddings = model.first_tower.predict(inputs, batch_size=64, verbose=0)
    write_projector(log_dir, embeddings, [clip["composer_name"].decode() for clip in clips])


def _embed_in_chunks(tower: keras.Model, clips: tf.Tensor) -> tf.Tensor:
    """Embeds clips a few at a time: a 512-clip forward pass peaks at gigabytes."""
    return tf.concat(
        [
            tower(clips[start : start + VALIDATION_CHUNK], training=False)
            for start in range(0, int(clips.shape[0]), VALIDATION_CHUNK)
        ],
        axis=0,
    )


def _validate(model, validation, rivals, step: int) -> dict[str, float]:
    if validation is None:
        return {}
    first, second = validation
    queries = _embed_in_chunks(model.first_tower, first)
    candidates = _embed_in_chunks(model.second_tower, second)
    loss = semantic_relevance_loss(queries, candidates, model.num_candidates, model.smoothing)
    ranks = neighbour_ranks(queries, candidates, tf.range(tf.shape(queries)[0]), rivals)
    metrics = {
        "validation/loss": float(loss),
        "validation/rank_at_100_am": float(tf.reduce_mean(ranks)),
        "validation/rank_at_100_gm": float(tf.exp(tf.reduce_mean(tf.math.log(ranks)))),
    }
    for name, value in metrics.items():
        tf.summary.scalar(name, value, step=step)
    return metrics
