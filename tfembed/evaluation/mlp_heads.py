"""Many MLP probe heads trained at once, each with its own seed and early stopping.

The evaluation trains an MLP head for every row, task, configuration of a
small grid and seed. Fitted one at a time with ``keras.Model.fit``, the cost
of each fit (a new graph, callbacks, a validation pass per epoch) dominated:
about 5 minutes per task for one model and its baselines on 2 cores. Here the
heads that share a layer shape are stacked along a leading axis (kernels of
shape ``[heads, in, out]``); one compiled step updates all of them. Each head
keeps everything a separate fit would have: its initialisation (Glorot
uniform, as Keras's ``Dense``), its batch order and dropout draws (from its
seed), its learning rate and dropout rate, Adam's moments, and early stopping
on its own validation loss with its best weights restored.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math

import numpy as np
import tensorflow as tf

BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-7
"""Adam's constants (Keras's defaults)."""


@dataclasses.dataclass(frozen=True)
class HeadSpec:
    """One head to train.

    Attributes:
        hidden: Units of each hidden ReLU layer.
        dropout: Dropout rate after each hidden layer.
        learning_rate: Adam's learning rate.
        seed: Seeds the initial weights, the batch order and the dropout.
    """

    hidden: tuple[int, ...]
    dropout: float
    learning_rate: float
    seed: int


@dataclasses.dataclass(frozen=True)
class FittedHead:
    """A trained head: its best weights and its validation loss.

    Attributes:
        weights: ``(kernel, bias)`` of each layer, input to output.
        validation_loss: The lowest validation loss it reached.
        epochs: Epochs it trained before it stopped.
    """

    weights: tuple[tuple[np.ndarray, np.ndarray], ...]
    validation_loss: float
    epochs: int

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """Outputs (logits, or the regression value in its column) of standardised features."""
        x = np.asarray(features, np.float32)
        for kernel, bias in self.weights[:-1]:
            x = np.maximum(x @ kernel + bias, 0.0)
        kernel, bias = self.weights[-1]
        return x @ kernel + bias


@dataclasses.dataclass(frozen=True)
class Training:
    """How every head is trained.

    Attributes:
        max_epochs: Epochs at most.
        patience: Epochs without a lower validation loss before a head stops.
        batch_size: Examples per step.
    """

    max_epochs: int
    patience: int
    batch_size: int


class _Stack:
    """Heads of one layer shape, stacked along axis 0; their values are set by :meth:`reset`."""

    def __init__(self, sizes: tuple[int, ...], heads: int) -> None:
        self.sizes = sizes
        self.variables: list[tf.Variable] = []
        for fan_in, fan_out in itertools.pairwise(sizes):
            self.variables.append(tf.Variable(tf.zeros([heads, fan_in, fan_out])))
            self.variables.append(tf.Variable(tf.zeros([heads, fan_out])))
        self.best = [tf.Variable(variable) for variable in self.variables]
        self.first_moments = [tf.Variable(tf.zeros_like(v)) for v in self.variables]
        self.second_moments = [tf.Variable(tf.zeros_like(v)) for v in self.variables]
        self.learning_rates = tf.Variable(tf.zeros([heads]))
        self.keep = tf.Variable(tf.zeros([heads]))
        self.dropout = tf.random.Generator.from_seed(0)
        self.specs: list[HeadSpec] = []

    def reset(self, specs: list[HeadSpec]) -> None:
        """Sets the heads afresh for ``specs``: initial weights, zero moments, rates, dropout."""
        self.specs = specs
        for index, (fan_in, fan_out) in enumerate(itertools.pairwise(self.sizes)):
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            kernels = [
                np.random.default_rng([spec.seed, 2 * index]).uniform(
                    -limit, limit, (fan_in, fan_out)
                )
                for spec in specs
            ]
            self.variables[2 * index].assign(np.stack(kernels).astype(np.float32))
            self.variables[2 * index + 1].assign(tf.zeros([len(specs), fan_out]))
        for best, variable in zip(self.best, self.variables, strict=True):
            best.assign(variable)
        for moment in self.first_moments + self.second_moments:
            moment.assign(tf.zeros_like(moment))
        self.learning_rates.assign([spec.learning_rate for spec in specs])
        self.keep.assign([1.0 - spec.dropout for spec in specs])
        self.dropout.reset_from_seed(specs[0].seed)

    def outputs(self, x: tf.Tensor, training: bool) -> tf.Tensor:
        """``x [heads, batch, in]`` -> outputs ``[heads, batch, out]``."""
        layers = len(self.variables) // 2
        for layer in range(layers):
            kernel, bias = self.variables[2 * layer], self.variables[2 * layer + 1]
            x = tf.einsum("hbi,hio->hbo", x, kernel) + bias[:, None, :]
            if layer < layers - 1:
                x = tf.nn.relu(x)
                if training:
                    keep = self.keep[:, None, None]
                    mask = tf.cast(self.dropout.uniform(tf.shape(x)) < keep, x.dtype)
                    x = x * mask / keep
        return x

    def apply_adam(self, gradients: list[tf.Tensor], step: tf.Tensor, active: tf.Tensor) -> None:
        """One Adam update with each head's learning rate; stopped heads do not move."""
        rate = self.learning_rates * tf.cast(active, tf.float32)
        correction = tf.sqrt(1.0 - BETA_2**step) / (1.0 - BETA_1**step)
        for variable, gradient, m, v in zip(
            self.variables, gradients, self.first_moments, self.second_moments, strict=True
        ):
            m.assign(BETA_1 * m + (1.0 - BETA_1) * gradient)
            v.assign(BETA_2 * v + (1.0 - BETA_2) * tf.square(gradient))
            shape = [-1] + [1] * (len(variable.shape) - 1)
            scale = tf.reshape(rate * correction, shape)
            variable.assign_sub(scale * m / (tf.sqrt(v) + EPSILON))

    def keep_best(self, improved: tf.Tensor) -> None:
        """Copies the weights of the heads whose validation loss improved."""
        for best, variable in zip(self.best, self.variables, strict=True):
            shape = [-1] + [1] * (len(variable.shape) - 1)
            best.assign(tf.where(tf.reshape(improved, shape), variable, best))

    def fitted(self, head: int, loss: float, epochs: int) -> FittedHead:
        """The best weights of one head."""
        arrays = [variable[head].numpy() for variable in self.best]
        return FittedHead(tuple(zip(arrays[::2], arrays[1::2], strict=True)), loss, epochs)


def _losses(outputs: tf.Tensor, targets: tf.Tensor, classification: bool) -> tf.Tensor:
    """Mean loss per head: ``outputs [heads, n, out]``, ``targets [heads, n]`` -> ``[heads]``."""
    if classification:
        per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(targets, outputs)
    else:
        per_example = tf.square(outputs[..., 0] - targets)
    return tf.reduce_mean(per_example, axis=1)


class _Trainer:
    """Stacks of one layout and their compiled training and validation steps.

    Compiling the steps costs about a second, more than training a group of heads
    on a few thousand clips; an evaluation trains many groups of one layout (every
    row of a report, for every task), so one trainer per layout is kept and its
    variables are set afresh for each group (:meth:`reset`). The steps are the
    same graphs, fed the same values: the heads are the same as with a trainer of
    their own.
    """

    def __init__(self, layout: tuple[tuple[tuple[int, ...], int], ...], classification: bool):
        self.stacks = [_Stack(sizes, heads) for sizes, heads in layout]
        self.active = [tf.Variable(tf.ones([heads], tf.bool)) for _, heads in layout]
        self.step = tf.Variable(0.0)
        self.classification = classification
        # Shapes left open where groups differ (clips of a task, the last batch),
        # so each step is traced once per layout, not once per group and task.
        features = tf.TensorSpec([None, layout[0][0][0]], tf.float32)
        targets = tf.TensorSpec([None], tf.int32 if classification else tf.float32)
        batches = [tf.TensorSpec([heads, None], tf.int64) for _, heads in layout]
        self.train_step = tf.function(
            self._train_step, input_signature=[features, targets, batches]
        )
        self.validation_losses = tf.function(
            self._validation_losses, input_signature=[features, targets]
        )

    def reset(self, groups: list[list[HeadSpec]]) -> None:
        """Sets every stack afresh for its heads; every head active, the step count at 0."""
        for stack, specs, on in zip(self.stacks, groups, self.active, strict=True):
            stack.reset(specs)
            on.assign(tf.ones_like(on))
        self.step.assign(0.0)

    def _train_step(self, train_x: tf.Tensor, train_y: tf.Tensor, indices: list[tf.Tensor]):
        self.step.assign_add(1.0)
        for stack, rows, on in zip(self.stacks, indices, self.active, strict=True):
            with tf.GradientTape() as tape:
                predicted = stack.outputs(tf.gather(train_x, rows), training=True)
                targets = tf.gather(train_y, rows)
                loss = tf.reduce_sum(_losses(predicted, targets, self.classification))
            stack.apply_adam(tape.gradient(loss, stack.variables), self.step, on)

    def _validation_losses(self, x: tf.Tensor, y: tf.Tensor) -> list[tf.Tensor]:
        losses = []
        for stack in self.stacks:
            heads = len(stack.specs)
            stacked_x = tf.broadcast_to(x, tf.concat([[heads], tf.shape(x)], 0))
            stacked_y = tf.broadcast_to(y, tf.concat([[heads], tf.shape(y)], 0))
            losses.append(
                _losses(stack.outputs(stacked_x, training=False), stacked_y, self.classification)
            )
        return losses


@functools.lru_cache(maxsize=16)
def _trainer(layout: tuple[tuple[tuple[int, ...], int], ...], classification: bool) -> _Trainer:
    """The trainer of a layout: ``(layer sizes, heads)`` per stack."""
    return _Trainer(layout, classification)


def train_heads(
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    specs: list[HeadSpec],
    outputs: int,
    training: Training,
) -> list[FittedHead]:
    """Trains every head of ``specs`` on the same standardised features, in parallel.

    Args:
        train: ``(features [n, d], targets [n])``: class indices for
            classification (``outputs > 1``), else values to regress.
        validation: The same for the validation split (early stopping).
        specs: The heads.
        outputs: Number of classes, or 1 for regression.
        training: Epochs, patience and batch size.

    Returns:
        One fitted head per spec, in order.
    """
    classification = outputs > 1
    target_dtype = tf.int32 if classification else tf.float32
    train_x = tf.constant(train[0], tf.float32)
    train_y = tf.constant(train[1], target_dtype)
    validation_x = tf.constant(validation[0], tf.float32)
    validation_y = tf.constant(validation[1], target_dtype)
    groups: dict[tuple[int, ...], list[int]] = {}
    for index, spec in enumerate(specs):
        groups.setdefault(spec.hidden, []).append(index)
    layout = tuple(
        ((train[0].shape[1], *hidden, outputs), len(members)) for hidden, members in groups.items()
    )
    trainer = _trainer(layout, classification)
    trainer.reset([[specs[i] for i in members] for members in groups.values()])
    stacks, active = trainer.stacks, trainer.active
    orders = [[np.random.default_rng([spec.seed, 1]) for spec in stack.specs] for stack in stacks]
    best = [np.full(len(stack.specs), np.inf) for stack in stacks]
    waited = [np.zeros(len(stack.specs), int) for stack in stacks]
    epochs = [np.zeros(len(stack.specs), int) for stack in stacks]
    count = len(train[1])
    for _ in range(training.max_epochs):
        permutations = [np.stack([rng.permutation(count) for rng in rngs]) for rngs in orders]
        for start in range(0, count, training.batch_size):
            end = start + training.batch_size
            indices = [tf.constant(order[:, start:end]) for order in permutations]
            trainer.train_step(train_x, train_y, indices)
        losses_of_stacks = trainer.validation_losses(validation_x, validation_y)
        for index, (stack, losses) in enumerate(zip(stacks, losses_of_stacks, strict=True)):
            running = active[index].numpy()
            losses = losses.numpy()
            improved = running & (losses < best[index])
            stack.keep_best(tf.constant(improved))
            best[index] = np.where(improved, losses, best[index])
            waited[index] = np.where(improved, 0, waited[index] + running)
            epochs[index] += running
            active[index].assign(running & (waited[index] < training.patience))
        if not any(on.numpy().any() for on in active):
            break
    fitted: list[FittedHead | None] = [None] * len(specs)
    for stack, members, losses, trained in zip(stacks, groups.values(), best, epochs, strict=True):
        for head, index in enumerate(members):
            fitted[index] = stack.fitted(head, float(losses[head]), int(trained[head]))
    return fitted
