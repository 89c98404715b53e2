"""Training speed as a share of what the CPU can do (for tools/benchmarks/bench_train.py).

A training step's pairs per second mean little without the machine beside them,
so every figure here is a ratio measured in one process: the step's arithmetic
rate (the tower's FLOPs per training pair times pairs per second) against
TensorFlow's own float32 matmul rate, measured in the same rounds. Rounds
alternate every variant and the matmul, so a slower moment of a shared machine
touches all of them alike; the spread over rounds is reported.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

MATMUL_SIZE = 2048


def matmul_gflops(dtype: tf.DType = tf.float32, size: int = MATMUL_SIZE, repeats: int = 8) -> float:
    """TensorFlow's rate on a ``size x size`` matmul, in GFLOP/s (after one warm-up call).

    Raises:
        tf.errors.OpError: The CPU (or the ISA cap) has no kernel for ``dtype``.
    """
    left = tf.cast(tf.random.stateless_normal([size, size], seed=[0, 1]), dtype)
    right = tf.cast(tf.random.stateless_normal([size, size], seed=[0, 2]), dtype)
    tf.matmul(left, right).numpy()
    started = time.perf_counter()
    for _ in range(repeats):
        product = tf.matmul(left, right)
    product.numpy()
    return 2 * size**3 * repeats / (time.perf_counter() - started) / 1e9


def forward_flops(tower: keras.Model) -> int:
    """FLOPs of one clip through a tower's convolutions and dense layers (multiply-add = 2).

    Batch norm, ReLU and pooling (a few FLOPs per activation) are left out, as
    they are from a GPU's or CPU's peak figures.
    """
    total = 0
    for layer in tower.layers:
        kind = type(layer).__name__
        if kind == "Conv2D":
            height, width, out_channels = layer.output.shape[1:]
            kernel_height, kernel_width, in_channels, _ = layer.kernel.shape
            total += 2 * height * width * out_channels * kernel_height * kernel_width * in_channels
        elif kind == "Dense":
            inputs, outputs = layer.kernel.shape
            total += 2 * inputs * outputs
    return int(total)


def profiler_forward_flops(tower: keras.Model) -> int:
    """TensorFlow's own count (``tf.compat.v1.profiler``) of one clip's forward pass, every op."""
    spec = tf.TensorSpec([1, *tower.input_shape[1:]], tf.float32)
    graph = (
        tf.function(lambda clips: tower(clips, training=False)).get_concrete_function(spec).graph
    )
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return int(tf.compat.v1.profiler.profile(graph=graph, options=options).total_float_ops)


def training_flops_per_pair(first: keras.Model, second: keras.Model) -> int:
    """FLOPs of one training pair: each clip forward, then back to its input and weights.

    The backward pass costs twice the forward one (the gradient with respect to
    each layer's input and to its weights), so a pair costs three forward passes
    of each of its two clips.
    """
    return 3 * (forward_flops(first) + forward_flops(second))


def pairs_per_second(step: Callable[[], object], steps: int, batch_size: int) -> float:
    """Pairs per second of ``steps`` calls of ``step`` (each waits for its result)."""
    started = time.perf_counter()
    for _ in range(steps):
        np.asarray(step())
    return steps * batch_size / (time.perf_counter() - started)


@dataclasses.dataclass
class Rounds:
    """Interleaved measurements: every round times each entry once, in turn.

    Attributes:
        values: Entry name -> one value per round.
    """

    values: dict[str, list[float]] = dataclasses.field(default_factory=dict)

    def run(self, entries: dict[str, Callable[[], float]], rounds: int) -> None:
        """Calls every entry once per round, in order, ``rounds`` times."""
        for _ in range(rounds):
            for name, measure in entries.items():
                self.values.setdefault(name, []).append(float(measure()))

    def summary(self, name: str) -> dict[str, float]:
        """Median, smallest and largest value of an entry."""
        values = self.values[name]
        return {
            "median": statistics.median(values),
            "min": min(values),
            "max": max(values),
            "rounds": len(values),
        }

    def ratio(self, numerator: str, denominator: str) -> dict[str, float]:
        """The per-round ratio of two entries: median, smallest, largest."""
        ratios = [
            top / bottom
            for top, bottom in zip(self.values[numerator], self.values[denominator], strict=True)
        ]
        return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}


OP_GROUPS = (
    ("convolutions", ("Conv2D",)),
    ("batch norm", ("BatchNorm", "Moments", "SquaredDifference")),
    ("pooling", ("MaxPool", "AvgPool")),
    ("ReLU", ("Relu",)),
    ("feature workers (tf.numpy_function)", ("PyFunc",)),
    ("dense layers and loss", ("MatMul", "Softmax", "CrossEntropy")),
)
"""How :func:`profile_ops` groups TensorFlow op types (by a part of their name)."""


def profile_ops(step: Callable[[], object], steps: int, log_dir: str) -> dict[str, float]:
    """Milliseconds per call of ``step`` spent in each group of ops, from a profiler trace.

    Traces ``steps`` calls with ``tf.profiler`` into ``log_dir`` and sums the
    time of the ops that the trace shows on the host, by :data:`OP_GROUPS`;
    ``rest`` is the call's time not in a group (other ops such as elementwise
    arithmetic and variable updates, Python, waiting), and ``step`` the whole call.
    """
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    tf.profiler.experimental.start(log_dir)
    started = time.perf_counter()
    for _ in range(steps):
        np.asarray(step())
    elapsed = time.perf_counter() - started
    tf.profiler.experimental.stop()
    space = xplane_pb2.XSpace()
    space.ParseFromString(
        max(Path(log_dir).rglob("*.xplane.pb"), key=os.path.getmtime).read_bytes()
    )
    totals = {name: 0.0 for name, _ in OP_GROUPS}
    for plane in space.planes:
        if plane.name != "/host:CPU":
            continue
        for line in plane.lines:
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                # Op events are "name:Type"; function and executor events have no type.
                kind = name.rpartition(":")[2].strip() if ":" in name else ""
                if not kind or "inference" in kind or " " in kind:
                    continue
                group = next(
                    (group for group, parts in OP_GROUPS if any(part in kind for part in parts)),
                    None,
                )
                if group:
                    totals[group] += event.duration_ps / 1e9 / steps
    step_ms = elapsed * 1000 / steps
    return {"step": step_ms, **totals, "rest": step_ms - sum(totals.values())}
