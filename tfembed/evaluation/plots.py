"""PNG plots: test embeddings in 2-D coloured by composer, and training curves."""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.manifold import TSNE
from tensorboard.backend.event_processing.event_accumulator import (
    TENSORS,
    EventAccumulator,
)
from tensorboard.util.tensor_util import make_ndarray

from tfembed.evaluation.featurizers import Featurizer
from tfembed.evaluation.split_features import SplitFeatures
from tfembed.training.run_folder import LOGS_DIR
from tfembed.utils.atomic import write_bytes_atomically

PROJECTED_CLIPS = 1500
CURVES = (
    (("train/pair_loss", "train/loss"), "training pair loss"),
    (("validation/loss",), "validation loss"),
    (("validation/rank_at_100_am",), "validation rank@100 (AM)"),
)
"""Panels of the training curves: the tags to read, the first one a run has, and a title.
A run with feature workers logs its pair loss apart from the sum it minimises."""


def _save(figure: Figure, path: Path) -> Path:
    """Writes a figure as PNG (a bare Figure: no pyplot, no GUI backend, no global state)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    write_bytes_atomically(path, [buffer.getvalue()])
    return path


def plot_projections(
    test: SplitFeatures, names: list[str], path: str | os.PathLike, seed: int = 0
) -> Path:
    """t-SNE of (up to 1,500) test clips for each row, coloured by composer."""
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.permutation(len(test))[:PROJECTED_CLIPS])
    composers = test.labels["composer"][chosen]
    columns = min(3, len(names))
    rows = math.ceil(len(names) / columns)
    figure = Figure(figsize=(4.2 * columns, 4 * rows))
    axes = figure.subplots(rows, columns, squeeze=False)
    for axis, name in zip(axes.flat, names, strict=False):
        features = test.features[name][chosen]
        features = (features - features.mean(0)) / (features.std(0) + 1e-6)
        perplexity = min(30.0, (len(chosen) - 1) / 3)
        points = TSNE(2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(
            features
        )
        axis.scatter(points[:, 0], points[:, 1], c=composers, cmap="tab10", s=4)
        axis.set_title(name, fontsize=9)
        axis.set_xticks([])
        axis.set_yticks([])
    for axis in list(axes.flat)[len(names) :]:
        axis.set_visible(False)
    figure.suptitle("test clips, t-SNE of each row's features, coloured by composer")
    return _save(figure, Path(path))


def _log_dir(featurizer: Featurizer, saved_model: Path) -> Path | None:
    """The run's TensorBoard folder, found without a path of the machine that exported it.

    The SavedModel is either in its run folder (``RUN/saved_model``, as ``tfembed-train``
    exports) or beside it (the run folder's name is recorded at export as ``run_name``).
    """
    run_name = featurizer.metadata.get("run_name")
    candidates = [saved_model.parent]
    if run_name:
        candidates.append(saved_model.parent / run_name)
    for candidate in candidates:
        if (candidate / LOGS_DIR).is_dir():
            return candidate / LOGS_DIR
    return None


def read_scalars(log_dir: str | os.PathLike, tag: str) -> tuple[np.ndarray, np.ndarray]:
    """Steps and values of a scalar written with ``tf.summary.scalar``."""
    events = EventAccumulator(str(log_dir), size_guidance={TENSORS: 0})
    events.Reload()
    if tag not in events.Tags()[TENSORS]:
        return np.zeros(0), np.zeros(0)
    records = events.Tensors(tag)
    steps = np.array([record.step for record in records])
    values = np.array([float(make_ndarray(record.tensor_proto)) for record in records])
    return steps, values


def _first_scalars(log_dir: Path, tags: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`read_scalars` of the first of ``tags`` the run logged (empty if none)."""
    for tag in tags:
        steps, values = read_scalars(log_dir, tag)
        if len(steps):
            break
    return steps, values


def plot_training_curves(
    models: list[Featurizer], saved_models: list[Path], path: str | os.PathLike
) -> Path | None:
    """Training and validation loss and validation rank@100 of each model's run.

    The towers of a joint export share one run, drawn once under its first row's name.
    """
    runs: dict[Path, str] = {}
    for model, saved in zip(models, saved_models, strict=True):
        if (log_dir := _log_dir(model, saved)) is not None:
            runs.setdefault(log_dir, model.name)
    if not runs:
        return None
    figure = Figure(figsize=(4.5 * len(CURVES), 3.6))
    axes = figure.subplots(1, len(CURVES))
    for axis, (tags, title) in zip(axes, CURVES, strict=True):
        for log_dir, name in runs.items():
            steps, values = _first_scalars(log_dir, tags)
            if len(steps):
                order = np.argsort(steps, kind="stable")
                axis.plot(steps[order], values[order], label=name, linewidth=1)
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("step")
    axes[0].legend(fontsize=8)
    return _save(figure, Path(path))
