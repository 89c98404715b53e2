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
    """Heads of one layer shape, stacked along axis 0."""

    def __init__(self, specs: list[HeadSpec], sizes: list[int]) -> None:
        self.specs = specs
        self.variables: list[tf.Variable] = []
        for fan_in, fan_out in itertools.pairwise(sizes):
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            kernels = [
                np.random.default_rng([spec.seed, len(self.variables)]).uniform(
                    -limit, limit, (fan_in, fan_out)
                )
                for spec in specs
            ]
            self.variables.append(tf.Variable(np.stack(kernels).astype(np.float32)))
            self.variables.append(tf.Variable(tf.zeros([len(specs), fan_out])))
        self.best = [tf.Variable(variable) for variable in self.variables]
        self.first_moments = [tf.Variable(tf.zeros_like(v)) for v in self.variables]
        self.second_moments = [tf.Variable(tf.zeros_like(v)) for v in self.variables]
        self.learning_rates = tf.constant([spec.learning_rate for spec in specs], tf.float32)
        self.keep = tf.constant([1.0 - spec.dropout for spec in specs], tf.float32)
        self.dropout = tf.random.Generator.from_seed(specs[0].seed)

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
    stacks = [
        _Stack([specs[i] for i in members], [train[0].shape[1], *hidden, outputs])
        for hidden, members in groups.items()
    ]
    active = [tf.Variable(tf.ones([len(s.specs)], tf.bool)) for s in stacks]
    step = tf.Variable(0.0)

    @tf.function
    def train_step(indices: list[tf.Tensor]) -> None:
        step.assign_add(1.0)
        for stack, rows, on in zip(stacks, indices, active, strict=True):
            with tf.GradientTape() as tape:
                predicted = stack.outputs(tf.gather(train_x, rows), training=True)
                loss = tf.reduce_sum(_losses(predicted, tf.gather(train_y, rows), classification))
            stack.apply_adam(tape.gradient(loss, stack.variables), step, on)

    @tf.function
    def validation_losses() -> list[tf.Tensor]:
        losses = []
        for stack in stacks:
            heads = len(stack.specs)
            x = tf.broadcast_to(validation_x, [heads, *validation_x.shape])
            y = tf.broadcast_to(validation_y, [heads, *validation_y.shape])
            losses.append(_losses(stack.outputs(x, training=False), y, classification))
        return losses

    orders = [[np.random.default_rng([spec.seed, 1]) for spec in stack.specs] for stack in stacks]
    best = [np.full(len(stack.specs), np.inf) for stack in stacks]
    waited = [np.zeros(len(stack.specs), int) for stack in stacks]
    epochs = [np.zeros(len(stack.specs), int) for stack in stacks]
    count = len(train[1])
    for _ in range(training.max_epochs):
        permutations = [np.stack([rng.permutation(count) for rng in rngs]) for rngs in orders]
        for start in range(0, count, training.batch_size):
            end = start + training.batch_size
            train_step([tf.constant(order[:, start:end]) for order in permutations])
        for index, (stack, losses) in enumerate(zip(stacks, validation_losses(), strict=True)):
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
