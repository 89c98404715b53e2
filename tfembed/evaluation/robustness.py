"""Robustness to the renderer: the test split heard through other soundfonts.

A dataset prepared with ``tfembed-prepare --soundfonts`` holds every clip in
several renderings (:attr:`tfembed.dataset.manifest.PreparedDataset.renderings`).
For each other rendering B and each row (a model or a baseline), with the
reference rendering as the gallery:

* same-clip retrieval: each test clip rendered with B is a query among all test
  clips rendered with the reference; the rank of its own clip (1 = best, a tie
  counts against the query) gives R@1, MRR and the median rank over the whole
  gallery, and rank@100 as the paper counts it (the clip among 99 drawn rivals);
* neighbour rank@100 across renderings: the query rendered with B, its neighbour
  and the rivals with the reference;
* probe transfer: linear probes (composer, key) trained on the reference
  rendering's train clips, scored on the test clips of the reference and of B.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from tfembed.dataset.manifest import (
    TEST_SPLIT,
    TRAIN_SPLIT,
    VALIDATION_SPLIT,
    PreparedDataset,
    open_dataset,
)
from tfembed.evaluation.evaluate import neighbour_queries, rank_candidates, task_data
from tfembed.evaluation.featurizers import (
    EvaluationError,
    Featurizer,
    export_featurizers,
    handmade_featurizer,
    random_tower_featurizer,
)
from tfembed.evaluation.probes import ProbeTask, probe_tasks, train_linear_probe
from tfembed.evaluation.split_features import SplitFeatures, featurize_split
from tfembed.export.registry import resolve_model
from tfembed.models.ranking import draw_rivals, neighbour_ranks
from tfembed.utils.atomic import write_bytes_atomically, write_json_atomically

TRANSFER_TASKS = ("composer", "key")
"""Probes whose transfer from the reference rendering to another is scored."""

ROBUSTNESS_JSON = "robustness.json"
"""The file of ``tfembed-eval --renderings`` in the output folder (a table beside it, ``.md``)."""


def gallery_ranks(queries: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """Rank of each query's own clip (same row) among the whole gallery, by cosine.

    Args:
        queries: ``[n, d]`` embeddings of the clips in one rendering.
        gallery: ``[n, d]`` embeddings of the same clips in another, row for row.

    Returns:
        int ``[n]`` ranks, 1 = best; another clip as similar as the query's own
        counts against it.
    """
    queries = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    gallery = gallery / np.maximum(np.linalg.norm(gallery, axis=1, keepdims=True), 1e-12)
    ranks = np.empty(len(queries), np.int64)
    for start in range(0, len(queries), 1024):
        block = queries[start : start + 1024] @ gallery.T
        rows = np.arange(len(block))
        own = block[rows, start + rows]
        block[rows, start + rows] = -np.inf
        ranks[start : start + len(block)] = 1 + np.sum(block >= own[:, None], axis=1)
    return ranks


def retrieval_summary(ranks: np.ndarray) -> dict[str, float]:
    """R@1, R@5, MRR and median rank of :func:`gallery_ranks`."""
    ranks = np.asarray(ranks, np.float64)
    return {
        "recall_at_1": float(np.mean(ranks <= 1)),
        "recall_at_5": float(np.mean(ranks <= 5)),
        "mrr": float(np.mean(1.0 / ranks)),
        "median_rank": float(np.median(ranks)),
    }


@dataclasses.dataclass
class _Rendered:
    """Test features of every rendering, and the reference's train and validation."""

    test: dict[str, SplitFeatures]
    train: SplitFeatures
    validation: SplitFeatures


def _featurize(
    dataset: PreparedDataset, renderings: list[str], featurizers: list[Featurizer], stride: int
) -> _Rendered:
    reference = dataset.renderings[0]
    return _Rendered(
        {
            name: featurize_split(dataset, TEST_SPLIT, featurizers, rendering=name)
            for name in [reference, *renderings]
        },
        featurize_split(dataset, TRAIN_SPLIT, featurizers, stride=stride),
        featurize_split(dataset, VALIDATION_SPLIT, featurizers),
    )


def evaluate_robustness(
    dataset: PreparedDataset,
    renderings: list[str],
    featurizers: list[Featurizer],
    train_stride: int = 3,
) -> dict[str, Any]:
    """Scores every row on each rendering against the reference (see the module).

    Args:
        dataset: A dataset with several renderings.
        renderings: The renderings to score (names), not the reference.
        featurizers: The rows (mel models and baselines).
        train_stride: Probes train on every ``train_stride``-th clip of a piece.

    Returns:
        ``{"reference", "renderings", "rows": {row: {"reference": {...},
        rendering: {...}}}}``; each rendering's entry has ``same_clip`` (R@1, R@5,
        MRR, median rank, ``rank_at_100_am``), ``neighbour_rank_at_100_am`` and
        ``probes`` (task -> micro-F1), the reference's ``neighbour_rank_at_100_am``
        and ``probes``.

    Raises:
        tfembed.errors.DatasetError: The dataset lacks a rendering.
    """
    for name in renderings:
        dataset.rendering_index(name)
    reference = dataset.renderings[0]
    features = _featurize(dataset, renderings, featurizers, train_stride)
    labels = features.test[reference].labels
    count = len(labels["piece_id"])
    candidates = rank_candidates(count)
    queries, neighbours = neighbour_queries(labels)
    neighbour_rivals = draw_rivals(
        count, np.stack([queries, neighbours], axis=1), seed=0, candidates=candidates
    )
    clips = np.arange(count)
    same_rivals = draw_rivals(count, clips[:, None], seed=0, candidates=candidates)
    composers = len(dataset.manifest["vocabularies"]["composer"])
    tasks = [task for task in probe_tasks(composers) if task.name in TRANSFER_TASKS]
    rows: dict[str, Any] = {}
    for featurizer in featurizers:
        name = featurizer.name
        gallery = features.test[reference].features[name]
        probes = {
            task.name: train_linear_probe(
                task,
                task_data(task, features.train, name),
                task_data(task, features.validation, name),
            )[0]
            for task in tasks
        }
        row = {reference: _probe_scores(gallery, labels, probes, tasks)}
        row[reference]["neighbour_rank_at_100_am"] = float(
            np.mean(neighbour_ranks(gallery[queries], gallery, neighbours, neighbour_rivals))
        )
        for rendering in renderings:
            query = features.test[rendering].features[name]
            scores = _probe_scores(query, labels, probes, tasks)
            scores["same_clip"] = retrieval_summary(gallery_ranks(query, gallery))
            scores["same_clip"]["rank_at_100_am"] = float(
                np.mean(neighbour_ranks(query, gallery, clips, same_rivals))
            )
            scores["neighbour_rank_at_100_am"] = float(
                np.mean(neighbour_ranks(query[queries], gallery, neighbours, neighbour_rivals))
            )
            row[rendering] = scores
        rows[name] = row
    return {"reference": reference, "renderings": renderings, "test_clips": count, "rows": rows}


def _probe_scores(
    features: np.ndarray, labels: dict[str, np.ndarray], probes: dict, tasks: list[ProbeTask]
) -> dict[str, Any]:
    """``{"probes": task -> micro-F1}`` of the test clips as ``features`` embed them."""
    scores = {}
    for task in tasks:
        known = task.known(labels)
        predicted = task.predictions(probes[task.name](features[known]))
        score = task.score(labels[task.label][known], predicted)
        scores[task.name] = float(score[task.metrics[0]])
    return {"probes": scores}


def robustness_markdown(result: dict[str, Any]) -> str:
    """A table per rendering of :func:`evaluate_robustness`'s result."""
    reference = result["reference"]
    lines = []
    for rendering in result["renderings"]:
        lines += [
            f"### {rendering} -> {reference} ({result['test_clips']} test clips)",
            "",
            "| row | R@1 | MRR | median rank | rank@100 | neighbour rank@100, same / across "
            "| composer, reference -> other | key, reference -> other |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, row in result["rows"].items():
            same, other = row[reference], row[rendering]
            clip = other["same_clip"]
            probes = [
                f"{same['probes'][task]:.3f} -> {other['probes'][task]:.3f}"
                for task in TRANSFER_TASKS
            ]
            lines.append(
                f"| {name} | {clip['recall_at_1']:.3f} | {clip['mrr']:.3f} | "
                f"{clip['median_rank']:.0f} | {clip['rank_at_100_am']:.2f} | "
                f"{same['neighbour_rank_at_100_am']:.2f} / "
                f"{other['neighbour_rank_at_100_am']:.2f} | " + " | ".join(probes) + " |"
            )
        lines.append("")
    return "\n".join(lines)


def write_robustness_report(
    models: list[str],
    data: str | os.PathLike,
    renderings: list[str],
    out: str | os.PathLike,
    baselines: bool = True,
) -> str:
    """Scores the mel models (and the mel baselines) on other renderings; writes the report.

    Args:
        models: Export folders or shipped model names; roll towers are left out.
        data: A dataset prepared with several soundfonts.
        renderings: The renderings to score against the reference.
        out: Folder for :data:`ROBUSTNESS_JSON` and its table (``robustness.md``).
        baselines: Score the random mel tower and the hand-made mel features too.

    Returns:
        The tables, as written.

    Raises:
        tfembed.errors.DatasetError: The dataset lacks a rendering.
        EvaluationError: No mel row to score.
    """
    dataset = open_dataset(data)
    featurizers = [
        row
        for model in models
        for row in export_featurizers(resolve_model(model), dataset.grid, Path(str(model)).name)
    ]
    featurizers = [featurizer for featurizer in featurizers if featurizer.domain == "mel"]
    if baselines:
        featurizers += [
            random_tower_featurizer("mel", dataset.grid),
            handmade_featurizer("mel", dataset.grid),
        ]
    if not featurizers:
        raise EvaluationError("--renderings needs a mel model or the baselines: none to score")
    result = evaluate_robustness(dataset, renderings, featurizers)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomically(out / ROBUSTNESS_JSON, result)
    table = robustness_markdown(result)
    markdown = out / Path(ROBUSTNESS_JSON).with_suffix(".md").name
    write_bytes_atomically(markdown, [table.encode()])
    return table
