"""Is the best row really better? A paired bootstrap over test pieces, Bonferroni-corrected.

Clips of one piece are not independent, so the bootstrap draws whole test
pieces with replacement (a cluster bootstrap) and scores every model on the
same draw. For each metric, the best model is compared with each other one; the
one-sided p-value is the share of draws in which it is not better. As in the
paper (Table 1: p < 0.0083 for 4 models), the significance level 0.05 is divided
by the number of model pairs; the winners are the best model and every model not
significantly worse than it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

FAMILY_ALPHA = 0.05


def piece_draws(piece_ids: np.ndarray, rounds: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Draws test pieces with replacement.

    Args:
        piece_ids: Piece id of every test clip.
        rounds: Number of bootstrap draws.
        seed: Seed of the draws.

    Returns:
        The distinct piece ids and int ``[rounds, pieces]`` counts of each in each draw.
    """
    pieces = np.unique(piece_ids)
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, len(pieces), size=(rounds, len(pieces)))
    counts = np.stack([np.bincount(row, minlength=len(pieces)) for row in drawn])
    return pieces, counts


def clip_weights(pieces: np.ndarray, counts: np.ndarray, piece_ids: np.ndarray) -> np.ndarray:
    """Per-draw weight of each clip: how often its piece was drawn (``[rounds, clips]``)."""
    return counts[:, np.searchsorted(pieces, piece_ids)].astype(np.float64)


@dataclasses.dataclass
class Comparison:
    """The outcome of one metric's comparison.

    Attributes:
        best: Name of the best model.
        p_values: One-sided p-value of "best is better" against each other model.
        winners: The best model and those not significantly worse.
        alpha: The Bonferroni-corrected significance level.
    """

    best: str
    p_values: dict[str, float]
    winners: list[str]
    alpha: float


def compare(
    values: dict[str, float],
    draws: dict[str, np.ndarray],
    higher_is_better: bool,
) -> Comparison:
    """Compares the best model on a metric with every other model.

    Args:
        values: Model name -> the metric on the full test split.
        draws: Model name -> the metric on each bootstrap draw (same draws for all).
        higher_is_better: Direction of the metric.

    Returns:
        The comparison (a single model wins alone).
    """
    names = list(values)
    sign = 1.0 if higher_is_better else -1.0
    best = max(names, key=lambda name: sign * values[name])
    pairs = len(names) * (len(names) - 1) // 2
    alpha = FAMILY_ALPHA / max(pairs, 1)
    p_values = {}
    for name in names:
        if name == best:
            continue
        advantage = sign * (draws[best] - draws[name])
        advantage = advantage[np.isfinite(advantage)]  # draws without a scored clip
        p_values[name] = float((np.sum(advantage <= 0) + 1) / (len(advantage) + 1))
    winners = [best] + [name for name, p in p_values.items() if p >= alpha]
    return Comparison(best, p_values, winners, alpha)
