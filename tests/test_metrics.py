"""Probe metrics against scikit-learn and mir_eval on the same predictions; the weighted median."""

from __future__ import annotations

import mir_eval
import numpy as np
import pytest
from sklearn.metrics import f1_score, mean_absolute_error, r2_score

from tfembed.evaluation.metrics import (
    f1_scores,
    regression_scores,
    tempo_accuracy,
    weighted_median,
)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_f1_matches_scikit_learn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 10, 300)
    predicted = np.where(rng.random(300) < 0.4, truth, rng.integers(0, 12, 300))
    weights = rng.integers(0, 3, 300).astype(np.float64)
    ours = f1_scores(truth, predicted)
    assert ours["micro_f1"] == pytest.approx(f1_score(truth, predicted, average="micro"))
    assert ours["macro_f1"] == pytest.approx(f1_score(truth, predicted, average="macro"))
    weighted = f1_scores(truth, predicted, weights)
    for average in ("micro", "macro"):
        expected = f1_score(truth, predicted, average=average, sample_weight=weights)
        assert weighted[f"{average}_f1"] == pytest.approx(expected)


def test_tempo_accuracy_matches_mir_eval() -> None:
    rng = np.random.default_rng(0)
    truth = rng.uniform(40, 200, 400)
    estimate = truth * rng.uniform(0.85, 1.15, 400)
    ours = tempo_accuracy(truth, estimate)
    for tolerance, key in ((0.08, "within_8pct"), (0.04, "within_4pct")):
        expected = np.mean(
            [
                mir_eval.tempo.detection(np.array([t, t]), 0.5, np.array([e, e]), tol=tolerance)[1]
                for t, e in zip(truth, estimate, strict=True)
            ]
        )
        assert ours[key] == pytest.approx(expected)
        assert 0.1 < ours[key] < 0.9


def test_regression_scores_match_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    truth = rng.gamma(2.0, 3.0, 500)
    estimate = truth + rng.normal(0, 2.0, 500)
    weights = rng.integers(0, 4, 500).astype(np.float64)
    ours = regression_scores(truth, estimate)
    assert ours["mae"] == pytest.approx(mean_absolute_error(truth, estimate))
    assert ours["r2"] == pytest.approx(r2_score(truth, estimate))
    weighted = regression_scores(truth, estimate, weights)
    assert weighted["mae"] == pytest.approx(
        mean_absolute_error(truth, estimate, sample_weight=weights)
    )
    assert weighted["r2"] == pytest.approx(r2_score(truth, estimate, sample_weight=weights))


def test_weighted_median_counts_each_value_as_often_as_drawn() -> None:
    rng = np.random.default_rng(0)
    values = rng.integers(0, 6, 9).astype(float)
    weights = rng.integers(0, 3, (50, 9))
    drawn = weighted_median(values, weights)
    for weight, median in zip(weights, drawn, strict=True):
        repeated = np.repeat(values, weight)
        assert median == np.median(repeated) if len(repeated) else np.isnan(median)
    assert weighted_median(values) == np.median(values)
    assert weighted_median(np.array([1.0, 1.0, 2.0, 4.0])) == 1.5
