"""Scores of probe predictions and a weighted median, with optional weights (for the bootstrap).

Weights are ``[clips]`` or ``[draws, clips]``: with a matrix of bootstrap
weights, every score is an array with one value per draw, computed at once.

Definitions follow scikit-learn (F1, MAE, R^2) and mir_eval's tempo tolerance
(an estimate is correct when ``|estimate - truth| <= tolerance * truth``); the
tests check them against both libraries.
"""

from __future__ import annotations

import numpy as np


def _weights(count: int, weights: np.ndarray | None) -> np.ndarray:
    return np.ones(count) if weights is None else np.asarray(weights, np.float64)


def _value(score: np.ndarray) -> float | np.ndarray:
    """A float for one set of weights, an array for a matrix of them."""
    return float(score) if np.ndim(score) == 0 else score


def f1_scores(
    truth: np.ndarray, predicted: np.ndarray, weights: np.ndarray | None = None
) -> dict[str, float]:
    """Micro and macro F1 of a single-label classification.

    Macro F1 averages over the classes that occur in ``truth`` or ``predicted``
    (as scikit-learn does); a class with no true and no predicted clip has no F1.

    Returns:
        ``micro_f1`` and ``macro_f1``.
    """
    truth, predicted = np.asarray(truth), np.asarray(predicted)
    weights = _weights(len(truth), weights)
    classes = np.union1d(truth, predicted)
    is_true = truth[:, np.newaxis] == classes
    is_predicted = predicted[:, np.newaxis] == classes
    hits = weights @ (is_true & is_predicted)
    true_totals = weights @ is_true
    predicted_totals = weights @ is_predicted
    denominators = true_totals + predicted_totals
    per_class = np.divide(2 * hits, denominators, out=np.zeros_like(hits), where=denominators > 0)
    return {
        "micro_f1": _value(hits.sum(axis=-1) / weights.sum(axis=-1)),
        "macro_f1": _value(per_class.mean(axis=-1)),
    }


def tempo_accuracy(
    truth: np.ndarray,
    estimate: np.ndarray,
    tolerances: tuple[float, ...] = (0.08, 0.04),
    weights: np.ndarray | None = None,
) -> dict[str, float]:
    """Share of clips whose tempo estimate is within each relative tolerance.

    Returns:
        ``within_8pct``-style keys, one per tolerance.
    """
    truth, estimate = np.asarray(truth, np.float64), np.asarray(estimate, np.float64)
    weights = _weights(len(truth), weights)
    error = np.abs(estimate - truth)
    return {
        f"within_{round(tolerance * 100)}pct": _value(
            weights @ (error <= tolerance * truth) / weights.sum(axis=-1)
        )
        for tolerance in tolerances
    }


def regression_scores(
    truth: np.ndarray, estimate: np.ndarray, weights: np.ndarray | None = None
) -> dict[str, float]:
    """Mean absolute error and coefficient of determination.

    Returns:
        ``mae`` and ``r2``.
    """
    truth, estimate = np.asarray(truth, np.float64), np.asarray(estimate, np.float64)
    weights = _weights(len(truth), weights)
    total = weights.sum(axis=-1)
    residual = weights @ (truth - estimate) ** 2
    mean = weights @ truth / total
    spread = weights @ (truth - np.mean(truth)) ** 2 - total * (mean - np.mean(truth)) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(spread > 0, 1.0 - residual / np.where(spread > 0, spread, 1.0), np.nan)
    return {
        "mae": _value(weights @ np.abs(truth - estimate) / total),
        "r2": _value(r2),
    }


def weighted_median(values: np.ndarray, weights: np.ndarray | None = None) -> float | np.ndarray:
    """The median of ``values``, each counted as often as its weight says.

    With integer weights (bootstrap counts) it is the median of the values
    repeated that many times, as ``numpy.median`` counts it: the mean of the two
    middle values when there is an even number of them. Without weights it is
    ``numpy.median``.

    Returns:
        The median; ``nan`` where every weight is 0 or there is no value.
    """
    values = np.asarray(values, np.float64)
    weights = _weights(len(values), weights)
    if not len(values):
        return _value(np.full(weights.shape[:-1], np.nan))
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    cumulative = np.cumsum(weights[..., order], axis=-1)
    half = cumulative[..., -1:] / 2
    last = len(values) - 1
    lower = ordered[np.minimum(np.sum(cumulative < half, axis=-1), last)]
    upper = ordered[np.minimum(np.sum(cumulative <= half, axis=-1), last)]
    return _value(np.where(cumulative[..., -1] > 0, (lower + upper) / 2, np.nan))
