"""The Trainer: optimizer, strategy, step function, save and restore.

Kept apart from the loop in :mod:`tfembed.training.train`, as magenta/ddsp's
``train_util.Trainer`` is. The loop is a custom one, not ``Model.fit``:
MultiWorkerMirroredStrategy fails with Keras 3 ``fit`` on TensorFlow 2.17
(keras-team/keras#20585) and works with a custom loop.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras
import tensorflow as tf

from tfembed.errors import RunError
from tfembed.features.framegrid import FrameGrid
from tfembed.models.siamese import SiameseModel, build_siamese, variant_spec
from tfembed.training.config import TrainConfig


def precision_policy_name(mixed_precision: str) -> str:
    """The Keras policy of ``train.mixed_precision`` (``auto``: float16 on GPU only)."""
    if mixed_precision == "auto":
        return "mixed_float16" if tf.config.list_physical_devices("GPU") else "float32"
    return mixed_precision


@contextlib.contextmanager
def precision_policy(name: str) -> Iterator[None]:
    """Sets the global Keras precision policy for the block, and restores it after."""
    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def learning_rate_schedule(
    config: TrainConfig,
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """The learning rate of ``train.lr_schedule``: constant, or warm-up then cosine decay."""
    if config.lr_schedule == "constant":
        return config.learning_rate
    warmup_steps = min(config.warmup_steps, config.steps)
    if warmup_steps == 0:
        return keras.optimizers.schedules.CosineDecay(config.learning_rate, max(1, config.steps))
    return keras.optimizers.schedules.CosineDecay(
        0.0,
        max(1, config.steps - warmup_steps),
        warmup_target=config.learning_rate,
        warmup_steps=warmup_steps,
    )


def build_model(config: TrainConfig, grid: FrameGrid) -> SiameseModel:
    """The siamese model a run's settings describe.

    Under ``multi_worker`` its batch norm is synchronized across workers; that
    adds no weights, so any run's checkpoint loads into it.
    """
    return build_siamese(
        config.variant,
        grid,
        config.tower_design(),
        config.num_candidates,
        config.smoothing,
        config.negatives,
        config.projection,
        synchronized=config.distribution == "multi_worker",
        pitch_classes=config.pitch_classes,
        feature_workers=config.feature_workers,
        worker_targets=config.worker_targets,
        joint_weights=config.joint_weights(),
        shared_head=config.joint_shared_head,
        own_head=config.joint_own_head,
    )


def make_strategy(distribution: str) -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy of ``train.distribution``.

    ``multi_worker`` is ``MultiWorkerMirroredStrategy``, configured from the
    ``TF_CONFIG`` environment variable (one worker without it). It must be
    created before any other TensorFlow operation of the process.

    Raises:
        RunError: ``multi_worker`` in a process that already ran TensorFlow.
    """
    if distribution == "mirrored":
        return tf.distribute.MirroredStrategy()
    if distribution == "multi_worker":
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except (RuntimeError, ValueError) as error:
            raise RunError(
                f"cannot start MultiWorkerMirroredStrategy ({error}); train.distribution = "
                "'multi_worker' needs a fresh process (run tfembed-train) and a valid TF_CONFIG"
            ) from error
    return tf.distribute.get_strategy()


class Trainer:
    """A siamese model with its optimizer and step counter, under a strategy.

    Build it inside :func:`precision_policy` when training in mixed precision.

    Attributes:
        config: The run's settings.
        strategy: The distribution strategy.
        model: The siamese model.
        optimizer: Adam (wrapped in loss scaling under mixed_float16).
        step: The global step, saved with the checkpoint.
        checkpoint: What is saved and restored.
    """

    def __init__(self, config: TrainConfig, grid: FrameGrid, strategy=None) -> None:
        self.config = config
        self.strategy = strategy or make_strategy(config.distribution)
        spec = variant_spec(config.variant)
        with self.strategy.scope():
            self.model = build_model(config, grid)
            optimizer = keras.optimizers.Adam(learning_rate_schedule(config))
            if keras.mixed_precision.global_policy().name == "mixed_float16":
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            self.model.compile(optimizer=optimizer)
            self.model.build([(None, *grid.clip_shape(domain)) for domain in spec.batch_domains])
            optimizer.build(self.model.trainable_variables)
            self.optimizer = optimizer
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.checkpoint = tf.train.Checkpoint(model=self.model, optimizer=optimizer, step=self.step)

    def restore(self, path: str) -> int:
        """Restores weights, optimizer state and step from a checkpoint; returns the step.

        Raises:
            RunError: The checkpoint does not fit this model.
        """
        try:
            self.checkpoint.restore(path).assert_existing_objects_matched()
        except (AssertionError, ValueError, tf.errors.OpError) as error:
            raise RunError(
                f"checkpoint {path} does not fit the configured model ({error}); "
                "resume with the run's own settings or choose another --model_dir"
            ) from error
        return int(self.step.numpy())

    @tf.function
    def train_step(self, batch) -> tf.Tensor:
        """One optimizer step on a (distributed) batch of pairs; returns the mean loss."""
        losses, _ = self.agreed_step(batch, tf.constant(0.0))
        return losses["loss"]

    @tf.function
    def agreed_step(self, batch, stop: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        """One step that also tells every worker whether any of them was asked to stop.

        Args:
            batch: A (distributed) batch of pairs.
            stop: float32 scalar, 1 when this process received SIGINT or SIGTERM.

        Returns:
            The mean over replicas of each loss of
            :meth:`tfembed.models.siamese.SiameseModel.training_losses` (``loss``
            is the one minimised), and the sum of ``stop`` over all replicas (above
            0: stop); the workers of a multi-worker job stop after the same step.
        """
        losses, stops = self.strategy.run(
            lambda pairs: (self.model.train_step(pairs), tf.identity(stop)),
            args=(batch,),
        )
        self.step.assign_add(1)
        mean = {
            name: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)
            for name, value in losses.items()
        }
        return mean, self.strategy.reduce(tf.distribute.ReduceOp.SUM, stops, axis=None)

    def learning_rate(self) -> float:
        """The optimizer's current learning rate (the schedule's value at this step)."""
        return float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))
