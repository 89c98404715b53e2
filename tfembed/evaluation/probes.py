"""Probe tasks on frozen features: Keras heads of two hidden layers (paper, 3.1).

Each head is trained on the train split's features, early-stopped on the
validation split and scored on the test split. Clips whose label is unknown are
left out of that task (and counted): key signature ``UNKNOWN``, and tempo
unless the file states it (a default of 120 would be a guess, not a label).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import keras
import numpy as np

from tfembed.evaluation.metrics import f1_scores, regression_scores, tempo_accuracy
from tfembed.preparation.labels import KEY_NAMES, UNKNOWN

HIDDEN_UNITS = (256, 128)
DROPOUT = 0.3
MAX_EPOCHS = 200
PATIENCE = 10
BATCH_SIZE = 128


@dataclasses.dataclass(frozen=True)
class ProbeTask:
    """A label to predict from a clip's features.

    Attributes:
        name: Task name in the report.
        label: Label it reads (see ``tfembed.evaluation.split_features.LABELS``).
        metrics: Metric names it reports, in order; the first is its main one.
        classes: Number of classes (0 for regression).
    """

    name: str
    label: str
    metrics: tuple[str, ...]
    classes: int = 0

    def known(self, labels: dict[str, np.ndarray]) -> np.ndarray:
        """Boolean mask of the clips whose label for this task is known."""
        values = labels[self.label]
        if self.label == "tempo":
            return labels["tempo_explicit"].astype(bool) & (values > 0)
        if self.classes:
            return values != UNKNOWN
        return np.isfinite(values)

    def target(self, values: np.ndarray) -> np.ndarray:
        """What the head is trained on (log tempo, so that errors are relative)."""
        return np.log(values) if self.label == "tempo" else values

    def decode(self, outputs: np.ndarray) -> np.ndarray:
        """Head outputs -> predictions in the label's units."""
        if self.classes:
            return np.argmax(outputs, axis=-1)
        return np.exp(outputs[:, 0]) if self.label == "tempo" else outputs[:, 0]

    def score(
        self, truth: np.ndarray, predicted: np.ndarray, weights: np.ndarray | None = None
    ) -> dict[str, float]:
        """The task's metrics, keyed ``{task}_{metric}``."""
        if self.classes:
            scores = f1_scores(truth, predicted, weights)
        elif self.label == "tempo":
            scores = tempo_accuracy(truth, predicted, weights=weights)
        else:
            scores = regression_scores(truth, predicted, weights)
        return {f"{self.name}_{name}": value for name, value in scores.items()}


def probe_tasks(composers: int) -> list[ProbeTask]:
    """The four tasks of the paper, for a dataset with ``composers`` classes."""
    return [
        ProbeTask(
            "composer",
            "composer",
            ("composer_micro_f1", "composer_macro_f1"),
            composers,
        ),
        ProbeTask(
            "key",
            "key_signature",
            ("key_micro_f1", "key_macro_f1"),
            len(KEY_NAMES),
        ),
        ProbeTask("tempo", "tempo", ("tempo_within_8pct", "tempo_within_4pct")),
        ProbeTask("density", "note_density", ("density_mae", "density_r2")),
    ]


def _head(features: np.ndarray, outputs: int) -> keras.Model:
    normalize = keras.layers.Normalization()
    normalize.adapt(features)
    inputs = keras.Input([features.shape[1]])
    x = normalize(inputs)
    for units in HIDDEN_UNITS:
        x = keras.layers.Dense(units, activation="relu")(x)
        x = keras.layers.Dropout(DROPOUT)(x)
    return keras.Model(inputs, keras.layers.Dense(outputs)(x))


def train_probe(
    task: ProbeTask,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    seed: int,
) -> Callable[[np.ndarray], np.ndarray]:
    """Trains a head on ``(features, label values)`` pairs, early-stopped on validation.

    Returns:
        A function from features to predictions in the label's units.
    """
    keras.utils.set_random_seed(seed)
    train_x, train_y = train[0], task.target(train[1])
    validation_x, validation_y = validation[0], task.target(validation[1])
    head = _head(train_x, task.classes or 1)
    if task.classes:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        shift, scale = 0.0, 1.0
    else:
        loss = "mse"
        shift, scale = float(np.mean(train_y)), float(np.std(train_y)) or 1.0
    head.compile(keras.optimizers.Adam(1e-3), loss)
    head.fit(
        train_x,
        (train_y - shift) / scale,
        validation_data=(validation_x, (validation_y - shift) / scale),
        epochs=MAX_EPOCHS,
        batch_size=BATCH_SIZE,
        callbacks=[keras.callbacks.EarlyStopping(patience=PATIENCE, restore_best_weights=True)],
        verbose=0,
    )

    def predict(features: np.ndarray) -> np.ndarray:
        outputs = np.asarray(head(features, training=False))
        if not task.classes:
            outputs = outputs * scale + shift
        return task.decode(outputs)

    return predict
