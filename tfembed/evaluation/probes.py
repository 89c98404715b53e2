"""Probe tasks on frozen features: the paper's MLP head and a linear probe.

Each probe is trained on the train split's features, chosen and early-stopped
on the validation split and scored on the test split. The MLP head (paper,
3.1: two hidden layers) is trained for each configuration of a small grid
(:data:`MLP_GRID` for classes, :data:`REGRESSION_GRID` for values) with the
first seed; the configuration with the lowest validation loss is then trained
with the other seeds. The linear probe
(logistic regression or ridge regression on standardised features, as HEAR
and MARBLE report) picks its regularisation on the validation split; it is
deterministic, so it needs one seed.

Clips whose label is unknown are left out of that task (and counted): key
signature ``UNKNOWN``, and a tempo neither stated in the file nor drawn for the
rendering (a default of 120 would be a guess, not a label).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable

import numpy as np

from tfembed.dataset.vocabulary import KEY_NAMES, UNKNOWN
from tfembed.evaluation.metrics import f1_scores, regression_scores, tempo_accuracy
from tfembed.evaluation.mlp_heads import FittedHead, HeadSpec, Training, train_heads


@dataclasses.dataclass(frozen=True)
class MlpConfig:
    """One configuration of the MLP head.

    Attributes:
        hidden: Units of each hidden ReLU layer.
        dropout: Dropout after each hidden layer.
        learning_rate: Adam's learning rate.
    """

    hidden: tuple[int, ...] = (256, 128)
    dropout: float = 0.3
    learning_rate: float = 1e-3

    def __str__(self) -> str:
        return f"{'-'.join(map(str, self.hidden))} drop {self.dropout} lr {self.learning_rate:g}"


MLP_GRID = (
    MlpConfig(),
    MlpConfig(hidden=(512, 256), dropout=0.5),
    MlpConfig(learning_rate=3e-4),
)
"""The classification grid: the paper's head (first), wider with more dropout, a smaller step."""

REGRESSION_GRID = (
    MlpConfig(),
    MlpConfig(dropout=0.1),
    MlpConfig(dropout=0.0),
    MlpConfig(learning_rate=3e-4),
)
"""The MLP grid of regression tasks: the paper's head (first), less or no dropout, a smaller step.

Dropout before a single linear output adds noise that the squared error can
only answer by pulling predictions towards the mean. The wide head with
dropout 0.5 often had the lowest validation loss on tempo and then the
poorest accuracy within 8% (measured 2026-11-26 on three MEL_MEL exports:
0.137 and 0.159 against 0.201 and 0.189 for dropout 0.1); dropout 0.1 or 0
lowered the density MAE of six learned and two random towers by 0.03 to 0.19
(the hand-made roll features alone did better with dropout 0.3).
"""

LOGISTIC_C = (0.01, 0.1, 1.0, 10.0)
"""Inverse regularisation strengths tried for the logistic-regression probe."""
RIDGE_ALPHA = (0.1, 1.0, 10.0, 100.0, 1000.0)
"""Regularisation strengths tried for the ridge-regression probe."""

MAX_EPOCHS = 100
PATIENCE = 5
BATCH_SIZE = 256


def probe_protocol() -> dict[str, list[str]]:
    """The grids both probes choose from, as a report records them.

    Two reports whose protocols differ were scored by different probes, so a
    tool that reuses an evaluation compares them first.
    """
    return {
        "mlp_classification": [str(config) for config in MLP_GRID],
        "mlp_regression": [str(config) for config in REGRESSION_GRID],
        "logistic_c": [f"{strength:g}" for strength in LOGISTIC_C],
        "ridge_alpha": [f"{strength:g}" for strength in RIDGE_ALPHA],
    }


Predict = Callable[[np.ndarray], np.ndarray]
"""Features -> class probabilities ``[n, classes]``, or values in the label's units ``[n]``."""


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
            drawn = labels["tempo_source"] == b"drawn" if "tempo_source" in labels else False
            return (labels["tempo_explicit"].astype(bool) | drawn) & (values > 0)
        if self.classes:
            return values != UNKNOWN
        return np.isfinite(values)

    def target(self, values: np.ndarray) -> np.ndarray:
        """What the head is trained on (log tempo, so that errors are relative)."""
        return np.log(values) if self.label == "tempo" else values

    def decode(self, target: np.ndarray) -> np.ndarray:
        """Regression targets (see :meth:`target`) -> values in the label's units."""
        return np.exp(target) if self.label == "tempo" else target

    def predictions(self, outputs: np.ndarray) -> np.ndarray:
        """A probe's outputs -> predicted labels (the most probable class, or the value)."""
        return np.argmax(outputs, axis=-1) if self.classes else outputs

    def score(
        self, truth: np.ndarray, predicted: np.ndarray, weights: np.ndarray | None = None
    ) -> dict[str, float]:
        """The task's metrics, keyed ``{task}_{metric}``.

        Args:
            truth: True labels.
            predicted: Predicted labels (see :meth:`predictions`).
            weights: ``[clips]`` or ``[draws, clips]`` weights (then every
                metric is an array with one value per draw).
        """
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


def _standardizer(features: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Standardisation with the train features' mean and deviation (Keras's Normalization)."""
    mean = features.mean(axis=0)
    deviation = np.sqrt(np.maximum(features.var(axis=0), 1e-7))
    return lambda x: ((x - mean) / deviation).astype(np.float32)


def _fit_heads(
    task: ProbeTask,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    heads: list[tuple[MlpConfig, int]],
) -> list[tuple[Predict, float]]:
    """Trains one MLP head per ``(configuration, seed)``, all in parallel.

    Returns:
        Per head, a function from features to outputs (see :data:`Predict`)
        and its best validation loss.
    """
    if not heads:
        return []
    standardize = _standardizer(train[0])
    train_y, validation_y = task.target(train[1]), task.target(validation[1])
    shift, scale = 0.0, 1.0
    if not task.classes:
        shift, scale = float(np.mean(train_y)), float(np.std(train_y)) or 1.0
    specs = [
        HeadSpec(config.hidden, config.dropout, config.learning_rate, seed)
        for config, seed in heads
    ]
    fitted = train_heads(
        (standardize(train[0]), (train_y - shift) / scale),
        (standardize(validation[0]), (validation_y - shift) / scale),
        specs,
        task.classes or 1,
        Training(MAX_EPOCHS, PATIENCE, BATCH_SIZE),
    )

    def predictor(head: FittedHead) -> Predict:
        def predict(features: np.ndarray) -> np.ndarray:
            outputs = head(standardize(features))
            if task.classes:
                exponentials = np.exp(outputs - outputs.max(axis=-1, keepdims=True))
                return exponentials / exponentials.sum(axis=-1, keepdims=True)
            return task.decode(outputs[:, 0] * scale + shift)

        return predict

    return [(predictor(head), head.validation_loss) for head in fitted]


def train_mlp_probes(
    task: ProbeTask,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    seeds: int,
) -> tuple[list[Predict], MlpConfig]:
    """Chooses the MLP configuration on validation (seed 0), then trains the other seeds.

    The configurations are :data:`MLP_GRID` for a classification task and
    :data:`REGRESSION_GRID` for a regression task. Each phase trains its heads
    in parallel (see ``tfembed.evaluation.mlp_heads``).

    Returns:
        One trained head per seed (0, 1, ...), and the chosen configuration.
    """
    grid = MLP_GRID if task.classes else REGRESSION_GRID
    tried = _fit_heads(task, train, validation, [(config, 0) for config in grid])
    best = min(range(len(grid)), key=lambda index: tried[index][1])
    chosen = grid[best]
    others = _fit_heads(task, train, validation, [(chosen, seed) for seed in range(1, seeds)])
    return [tried[best][0], *(predict for predict, _ in others)], chosen


def train_linear_probe(
    task: ProbeTask,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
) -> tuple[Predict, float]:
    """A logistic-regression (classes) or ridge-regression probe on standardised features.

    The regularisation strength is the one of :data:`LOGISTIC_C` or
    :data:`RIDGE_ALPHA` with the best validation score (main metric, or mean
    squared error of the target for regression).

    Returns:
        A function from features to outputs (see :data:`Predict`), and the
        chosen strength.
    """
    from scipy.linalg import LinAlgWarning
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train[0])
    train_x, validation_x = scaler.transform(train[0]), scaler.transform(validation[0])
    if task.classes:
        fitted = []
        for strength in LOGISTIC_C:
            with warnings.catch_warnings():
                # A weakly regularised fit may stop at the iteration cap; the
                # validation score of each strength decides, converged or not.
                warnings.simplefilter("ignore", ConvergenceWarning)
                model = LogisticRegression(C=strength, max_iter=300).fit(train_x, train[1])
            main = task.score(validation[1], model.predict(validation_x))[task.metrics[0]]
            fitted.append((-main, strength, model))
    else:
        train_y, validation_y = task.target(train[1]), task.target(validation[1])
        fitted = []
        for strength in RIDGE_ALPHA:
            with warnings.catch_warnings():
                # Collinear features (chroma summed from mel bands) make the
                # weakest strength ill-conditioned; validation judges it.
                warnings.simplefilter("ignore", LinAlgWarning)
                model = Ridge(alpha=strength).fit(train_x, train_y)
            error = float(np.mean((model.predict(validation_x) - validation_y) ** 2))
            fitted.append((error, strength, model))
    _, strength, model = min(fitted, key=lambda entry: entry[0])

    def predict(features: np.ndarray) -> np.ndarray:
        x = scaler.transform(features)
        if not task.classes:
            return task.decode(model.predict(x))
        probabilities = np.zeros((len(x), task.classes))
        probabilities[:, model.classes_] = model.predict_proba(x)
        return probabilities

    return predict, strength
