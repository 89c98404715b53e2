"""Is the best row really better? A paired bootstrap over test works, Bonferroni-corrected.

Clips of one piece, and pieces of one work (movements, mass sections), are not
independent, so the bootstrap draws whole test works with replacement (a
cluster bootstrap) and scores every row, models and baselines alike, on the
same draw. A variant given as several exports (training seeds) is one row: in
each draw its score is the mean over its exports drawn with replacement, so the
spread between training runs widens its interval as the spread between works
does. For each metric, the best row is compared with each other one; the
one-sided p-value is the share of draws in which it is not better. The
significance level 0.05 is divided by the number of these comparisons
(Bonferroni); the winners are the best row and every row not significantly
worse than it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

FAMILY_ALPHA = 0.05


def piece_draws(piece_ids: np.ndarray, rounds: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Draws test units (works, or pieces) with replacement.

    Args:
        piece_ids: Unit (work or piece) of every test clip.
        rounds: Number of bootstrap draws.
        seed: Seed of the draws.

    Returns:
        The distinct units and int ``[rounds, units]`` counts of each in each draw.
    """
    pieces = np.unique(piece_ids)
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, len(pieces), size=(rounds, len(pieces)))
    counts = np.stack([np.bincount(row, minlength=len(pieces)) for row in drawn])
    return pieces, counts


def seed_draws(member_draws: list[np.ndarray], seed: int = 0) -> np.ndarray:
    """A variant's score on each draw: the mean over its exports, drawn with replacement.

    Args:
        member_draws: One ``[rounds]`` array per export (training seed) of the variant.
        seed: Seed of the draws of exports.

    Returns:
        ``[rounds]``; with one export, its draws unchanged.
    """
    stacked = np.stack(member_draws)
    if len(member_draws) == 1:
        return stacked[0]
    rng = np.random.default_rng(seed)
    rounds = stacked.shape[1]
    chosen = rng.integers(0, len(member_draws), size=(rounds, len(member_draws)))
    return np.nanmean(stacked[chosen, np.arange(rounds)[:, np.newaxis]], axis=1)


def clip_weights(pieces: np.ndarray, counts: np.ndarray, piece_ids: np.ndarray) -> np.ndarray:
    """Per-draw weight of each clip: how often its piece was drawn (``[rounds, clips]``)."""
    return counts[:, np.searchsorted(pieces, piece_ids)].astype(np.float64)


def drawn_share(hits: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The weighted share of hits on every draw (``nan`` for a draw of none).

    Args:
        hits: ``[clips]`` booleans.
        weights: ``[draws, clips]`` (:func:`clip_weights`).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        return weights @ hits / weights.sum(axis=1)


@dataclasses.dataclass
class Comparison:
    """The outcome of one metric's comparison.

    Attributes:
        best: Name of the best model.
        p_values: One-sided p-value of "best is better" against each other model.
        winners: The best row and those not significantly worse.
        alpha: The Bonferroni-corrected significance level.
        standard_errors: Each row's bootstrap standard error.
    """

    best: str
    p_values: dict[str, float]
    winners: list[str]
    alpha: float
    standard_errors: dict[str, float] = dataclasses.field(default_factory=dict)


def compare(
    values: dict[str, float],
    draws: dict[str, np.ndarray],
    higher_is_better: bool,
) -> Comparison:
    """Compares the best row on a metric with every other row.

    Args:
        values: Row name -> the metric on the full test split.
        draws: Row name -> the metric on each bootstrap draw (same draws for all).
        higher_is_better: Direction of the metric.

    Returns:
        The comparison (a single row wins alone).
    """
    names = list(values)
    sign = 1.0 if higher_is_better else -1.0
    best = max(names, key=lambda name: sign * values[name])
    alpha = FAMILY_ALPHA / max(len(names) - 1, 1)
    p_values = {}
    for name in names:
        if name == best:
            continue
        advantage = sign * (draws[best] - draws[name])
        advantage = advantage[np.isfinite(advantage)]  # draws without a scored clip
        p_values[name] = float((np.sum(advantage <= 0) + 1) / (len(advantage) + 1))
    winners = [best] + [name for name, p in p_values.items() if p >= alpha]
    errors = {name: float(np.nanstd(draws[name])) for name in names}
    return Comparison(best, p_values, winners, alpha, errors)
