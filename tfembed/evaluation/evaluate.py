"""The evaluation behind ``tfembed-eval``: every row, every metric, one report.

Rows are the exported models and, on the same splits, the baselines (chance,
the same tower with random weights, hand-made features). Metrics are rank@100
on the test split and four probe tasks; the models are compared for
significance (see :mod:`tfembed.evaluation.significance`).
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from tfembed.atomic import write_json_atomically, write_npz_atomically
from tfembed.dataset.manifest import open_dataset
from tfembed.evaluation.featurizers import (
    EvaluationError,
    Featurizer,
    chance_featurizer,
    handmade_featurizer,
    random_tower_featurizer,
    saved_model_featurizer,
)
from tfembed.evaluation.plots import plot_projections, plot_training_curves
from tfembed.evaluation.probes import ProbeTask, probe_tasks, train_probe
from tfembed.evaluation.report import METRIC_DIRECTIONS, write_markdown
from tfembed.evaluation.significance import clip_weights, compare, piece_draws
from tfembed.evaluation.split_features import SplitFeatures, featurize_split
from tfembed.models.ranking import RANK_CANDIDATES, draw_rivals, neighbour_ranks, rank_summary

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
TEST_EMBEDDINGS = "test_embeddings.npz"
MIN_TEST_PIECES = 5
"""Default: fewer test pieces than this for a metric and it is not tested for significance."""


def _row_names(paths: list[Path], variants: list[str]) -> list[str]:
    """Variant names, made unique with the folder name where two models share one."""
    return [
        variant if variants.count(variant) == 1 else f"{variant} ({path.name})"
        for path, variant in zip(paths, variants, strict=True)
    ]


def _featurizers(
    saved_models: list[Path], grid, baselines: bool
) -> tuple[list[Featurizer], list[Featurizer]]:
    models = [saved_model_featurizer(path, grid) for path in saved_models]
    for model, name in zip(
        models, _row_names(saved_models, [model.name for model in models]), strict=True
    ):
        model.name = name
    others: list[Featurizer] = []
    if baselines:
        others.append(chance_featurizer())
        for domain in sorted({model.domain for model in models}):
            widths = next(
                model.metadata["train_bindings"]["widths"]
                for model in models
                if model.domain == domain
            )
            others.append(random_tower_featurizer(domain, grid, tuple(widths)))
            others.append(handmade_featurizer(domain, grid))
    return models, others


def neighbour_queries(labels: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Test clips that have a neighbour (the next clip of the same piece), and it.

    Returns:
        The clips' indices and their neighbours' indices.
    """
    position = {
        (piece, index): row
        for row, (piece, index) in enumerate(
            zip(labels["piece_id"], labels["clip_index"], strict=True)
        )
    }
    pairs = [
        (row, position[(piece, index + 1)])
        for (piece, index), row in position.items()
        if (piece, index + 1) in position
    ]
    queries, neighbours = np.array(pairs, np.int64).reshape(-1, 2).T
    return queries, neighbours


def rank_candidates(test_clips: int) -> int:
    """100 as in the paper, or all test clips but the query when there are fewer."""
    return min(RANK_CANDIDATES, test_clips - 1)


def _rank_rows(test: SplitFeatures, names: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    queries, neighbours = neighbour_queries(test.labels)
    rivals = draw_rivals(
        len(test),
        np.stack([queries, neighbours], axis=1),
        seed=0,
        candidates=rank_candidates(len(test)),
    )
    ranks = {}
    for name in names:
        embeddings = test.features[name]
        ranks[name] = neighbour_ranks(embeddings[queries], embeddings, neighbours, rivals).numpy()
    return queries, ranks


def _task_data(task: ProbeTask, split: SplitFeatures, name: str) -> tuple[np.ndarray, np.ndarray]:
    known = task.known(split.labels)
    return split.features[name][known], split.labels[task.label][known]


def _probe_rows(
    task: ProbeTask,
    splits: dict[str, SplitFeatures],
    names: list[str],
    seeds: list[int],
) -> dict[str, list[np.ndarray]]:
    """Test predictions of each row's probe, one array per seed."""
    predictions: dict[str, list[np.ndarray]] = {}
    for name in names:
        train = _task_data(task, splits["train"], name)
        validation = _task_data(task, splits["validation"], name)
        test_features, _ = _task_data(task, splits["test"], name)
        predictions[name] = [
            train_probe(task, train, validation, seed)(test_features) for seed in seeds
        ]
    return predictions


def _summary(per_seed: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    return {
        metric: {
            "mean": float(np.mean([scores[metric] for scores in per_seed])),
            "std": float(np.std([scores[metric] for scores in per_seed])),
        }
        for metric in per_seed[0]
    }


@dataclasses.dataclass
class _Scores:
    """Each row's metrics on the test split and on every bootstrap draw of its pieces.

    Attributes:
        metrics: Row -> metric -> ``{"mean", "std"}`` (over probe seeds).
        draws: Row -> metric -> the metric on each draw (seed-averaged).
        pieces: The test pieces, in the order of ``counts``' columns.
        counts: ``[draws, pieces]`` how often each piece is drawn.
        test_pieces: Metric -> number of test pieces its clips come from.
    """

    metrics: dict[str, dict[str, dict[str, float]]]
    draws: dict[str, dict[str, np.ndarray]]
    pieces: np.ndarray
    counts: np.ndarray
    test_pieces: dict[str, int] = dataclasses.field(default_factory=dict)

    def weights(self, piece_ids: np.ndarray) -> np.ndarray:
        """``[draws, clips]`` bootstrap weights of clips from these pieces."""
        return clip_weights(self.pieces, self.counts, piece_ids)


def _score_ranks(test: SplitFeatures, names: list[str], scores: _Scores) -> dict[str, int]:
    """rank@100 of every row; returns the query counts."""
    queries, ranks = _rank_rows(test, names)
    weights = scores.weights(test.labels["piece_id"][queries])
    pieces = len(np.unique(test.labels["piece_id"][queries]))
    for name in names:
        for metric, value in rank_summary(ranks[name]).items():
            scores.metrics[name][metric] = {"mean": value, "std": 0.0}
            scores.test_pieces[metric] = pieces
        on_draws = [rank_summary(ranks[name], draw) for draw in weights]
        for metric in on_draws[0]:
            scores.draws[name][metric] = np.array([draw[metric] for draw in on_draws])
    return {
        "queries": len(queries),
        "test_clips": len(test),
        "candidates": rank_candidates(len(test)),
    }


def _score_probes(
    splits: dict[str, SplitFeatures],
    names: list[str],
    seeds: int,
    composers: int,
    scores: _Scores,
) -> tuple[dict[str, Any], dict[str, str]]:
    """The four probe tasks for every row; returns clip counts and skipped tasks."""
    test = splits["test"]
    counts: dict[str, Any] = {}
    skipped = {}
    for task in probe_tasks(composers):
        known = {split: task.known(features.labels) for split, features in splits.items()}
        counts[task.name] = {
            split: {"used": int(mask.sum()), "left_out": int((~mask).sum())}
            for split, mask in known.items()
        }
        if not all(mask.any() for mask in known.values()):
            skipped[task.name] = "no clip with a known label in at least one split"
            continue
        print(f"probe task {task.name}: {len(names)} rows x {seeds} seeds", flush=True)
        predictions = _probe_rows(task, splits, names, list(range(seeds)))
        truth = test.labels[task.label][known["test"]]
        weights = scores.weights(test.labels["piece_id"][known["test"]])
        for metric in task.metrics:
            scores.test_pieces[metric] = len(np.unique(test.labels["piece_id"][known["test"]]))
        for name in names:
            per_seed = [task.score(truth, predicted) for predicted in predictions[name]]
            scores.metrics[name].update(_summary(per_seed))
            for metric in task.metrics:
                scores.draws[name][metric] = np.array(
                    [
                        np.mean([task.score(truth, p, draw)[metric] for p in predictions[name]])
                        if draw.any()
                        else np.nan  # the draw holds no clip of this task
                        for draw in weights
                    ]
                )
    return counts, skipped


def _significance(model_names: list[str], scores: _Scores, min_test_pieces: int) -> dict[str, Any]:
    """The comparison of the models on every metric measured on enough test pieces.

    A bootstrap over fewer than ``min_test_pieces`` pieces cannot tell noise from a
    difference, so such metrics are not tested (and nothing is marked bold).
    """
    significance = {}
    for metric, higher in METRIC_DIRECTIONS.items():
        if scores.test_pieces.get(metric, 0) < min_test_pieces:
            continue
        comparison = compare(
            {name: scores.metrics[name][metric]["mean"] for name in model_names},
            {name: scores.draws[name][metric] for name in model_names},
            higher,
        )
        significance[metric] = vars(comparison)
    return significance


def evaluate(
    saved_models: list[str | os.PathLike],
    data_dir: str | os.PathLike,
    out: str | os.PathLike,
    seeds: int = 3,
    baselines: bool = True,
    bootstrap_rounds: int = 1000,
    batch_size: int = 128,
    min_test_pieces: int = MIN_TEST_PIECES,
) -> dict[str, Any]:
    """Evaluates exported towers on a prepared dataset and writes the report.

    Args:
        saved_models: Folders written by ``tfembed-export`` (or training).
        data_dir: A dataset written by ``tfembed-prepare``.
        out: Folder for ``report.json``, ``report.md``, plots and test embeddings.
        seeds: Probe heads trained per row and task (mean and spread reported).
        baselines: Whether to add chance, random-tower and hand-made rows.
        bootstrap_rounds: Draws of the significance test.
        batch_size: Clips per batch when embedding.
        min_test_pieces: Metrics measured on fewer test pieces are not tested for
            significance.

    Returns:
        The report (also written as ``report.json``).

    Raises:
        EvaluationError: A SavedModel does not fit the dataset, or a split is empty.
    """
    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dataset = open_dataset(data_dir)
    manifest, grid = dataset.manifest, dataset.grid
    paths = [Path(path) for path in saved_models]
    models, others = _featurizers(paths, grid, baselines)
    rows = models + others
    names = [row.name for row in rows]
    splits = {}
    for split in ("train", "validation", "test"):
        try:
            splits[split] = featurize_split(dataset, split, rows, batch_size)
        except ValueError as error:
            raise EvaluationError(str(error)) from error
    test = splits["test"]
    model_names = [model.name for model in models]
    write_npz_atomically(
        out / TEST_EMBEDDINGS,
        {
            **{name: test.features[name] for name in model_names},
            "composer": test.labels["composer"],
            "piece_id": test.labels["piece_id"],
            "clip_index": test.labels["clip_index"],
        },
    )
    scores = _Scores(
        {name: {} for name in names},
        {name: {} for name in names},
        *piece_draws(test.labels["piece_id"], bootstrap_rounds),
    )
    rank_counts = _score_ranks(test, names, scores)
    task_counts, skipped_tasks = _score_probes(
        splits, names, seeds, len(manifest["vocabularies"]["composer"]), scores
    )
    metrics = scores.metrics
    significance = (
        _significance(model_names, scores, min_test_pieces) if len(model_names) > 1 else {}
    )

    report = {
        "data": str(Path(data_dir).resolve()),
        "data_created": manifest.get("created"),
        "rows": [
            {
                "name": row.name,
                "kind": row.kind,
                "domain": row.domain,
                "saved_model": str(path.resolve()) if path else None,
                "checkpoint_step": row.metadata.get("checkpoint_step"),
            }
            for row, path in zip(rows, paths + [None] * len(others), strict=True)
        ],
        "seeds": seeds,
        "bootstrap_rounds": bootstrap_rounds,
        "counts": {"rank": rank_counts, **task_counts},
        "test_pieces": scores.test_pieces,
        "skipped_tasks": skipped_tasks,
        "metrics": metrics,
        "significance": significance,
        "against_random_tower": _against_random_tower(models, others, metrics),
        "plots": [
            plot.name
            for plot in (
                plot_projections(test, names, out / "projection.png"),
                plot_training_curves(models, paths, out / "training_curves.png"),
            )
            if plot is not None
        ],
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_json_atomically(out / REPORT_JSON, report)
    write_markdown(report, out / REPORT_MD)
    return report


def _against_random_tower(
    models: list[Featurizer], others: list[Featurizer], metrics: dict[str, Any]
) -> dict[str, Any]:
    """Whether each model beats the random tower of its domain, per task's main metric."""
    checks = {}
    for model in models:
        baseline = next(
            (
                row.name
                for row in others
                if row.kind == "random tower" and row.domain == model.domain
            ),
            None,
        )
        if baseline is None:
            continue
        outcome = {}
        for metric in ("rank_am", *(task.metrics[0] for task in probe_tasks(1))):
            if metric not in metrics[model.name]:
                continue
            sign = 1.0 if METRIC_DIRECTIONS[metric] else -1.0
            outcome[metric] = bool(
                sign * (metrics[model.name][metric]["mean"] - metrics[baseline][metric]["mean"]) > 0
            )
        checks[model.name] = {"baseline": baseline, "better": outcome}
    return checks
