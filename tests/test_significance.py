"""The paired bootstrap over works: baselines in the test, training seeds drawn too."""

from __future__ import annotations

import numpy as np

from tfembed.evaluation.metrics import f1_scores, regression_scores
from tfembed.evaluation.report import claims
from tfembed.evaluation.significance import clip_weights, compare, piece_draws, seed_draws


def _weights(works: np.ndarray, rounds: int = 400) -> np.ndarray:
    units, counts = piece_draws(works, rounds)
    return clip_weights(units, counts, works)


def test_draws_are_over_works_so_clips_of_one_work_move_together():
    works = np.repeat(np.array(["a", "b", "c", "d"]), [5, 1, 1, 1])
    weights = _weights(works)
    assert np.all(weights[:, :5] == weights[:, [0]])  # the 5 clips of work a share a count
    assert np.allclose(weights.sum(axis=1) % 1, 0)


def test_vectorised_metrics_match_one_draw_at_a_time():
    rng = np.random.default_rng(1)
    works = np.repeat(np.arange(12).astype(str), 6)
    weights = _weights(works, 50)
    truth, predicted = rng.integers(0, 4, 72), rng.integers(0, 4, 72)
    together = f1_scores(truth, predicted, weights)
    for index in (0, 17, 49):
        alone = f1_scores(truth, predicted, weights[index])
        assert np.isclose(together["macro_f1"][index], alone["macro_f1"])
        assert np.isclose(together["micro_f1"][index], alone["micro_f1"])
    values, estimates = rng.normal(size=72), rng.normal(size=72)
    r2 = regression_scores(values, estimates, weights)["r2"]
    assert np.isclose(r2[3], regression_scores(values, estimates, weights[3])["r2"])


def test_a_baseline_can_win_and_models_tied_with_it_are_named():
    rng = np.random.default_rng(0)
    works = np.repeat(np.arange(30).astype(str), 8)
    weights = _weights(works)
    per_clip = {
        "model": rng.normal(0.50, 0.2, len(works)),
        "hand-made": rng.normal(0.80, 0.2, len(works)),
        "chance": rng.normal(0.10, 0.2, len(works)),
    }
    draws = {name: weights @ values / weights.sum(axis=1) for name, values in per_clip.items()}
    comparison = compare({n: v.mean() for n, v in per_clip.items()}, draws, True)
    assert comparison.best == "hand-made" and comparison.winners == ["hand-made"]
    assert comparison.alpha == 0.05 / 2
    assert comparison.standard_errors["model"] > 0
    report = {
        "rows": [
            {"name": "model", "kind": "model"},
            {"name": "hand-made", "kind": "hand-made"},
            {"name": "chance", "kind": "chance"},
        ],
        "significance": {"composer_micro_f1": vars(comparison)},
        "test_works": {"composer_micro_f1": 30, "tempo_within_8pct": 2},
    }
    lines = claims(report, (("C", "composer_micro_f1"), ("T", "tempo_within_8pct")))
    assert "A baseline is best (hand-made)" in lines[0]
    assert lines[1] == "- tempo_within_8pct: untested (test clips from 2 works)."


def test_training_seeds_widen_a_variants_interval():
    rng = np.random.default_rng(0)
    works = np.repeat(np.arange(40).astype(str), 5)
    weights = _weights(works)
    base = rng.normal(0.5, 0.1, len(works))
    exports = [base + shift for shift in (-0.1, 0.0, 0.1)]  # three training seeds disagree
    member_draws = [weights @ values / weights.sum(axis=1) for values in exports]
    merged = seed_draws(member_draws, seed=0)
    assert np.array_equal(seed_draws(member_draws[:1]), member_draws[0])
    assert np.array_equal(merged, seed_draws(member_draws, seed=0))  # deterministic
    assert abs(merged.mean() - np.mean(member_draws)) < 0.01
    assert merged.std() > 2 * member_draws[1].std()  # seed spread counts, not only works
