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

Each score is also given with every rendering's embeddings standardised by the
mean and deviation of its own train clips (no labels): a shift of the embedding
that comes with the renderer cancels, as it would for a user who standardises a
collection recorded one way. R@1 and the probes' scores on B are tested for
significance across the rows, as the main report tests its metrics.
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
from tfembed.evaluation.evaluate import (
    MIN_TEST_WORKS,
    BootstrapScores,
    compare_rows,
    manifest_works,
    neighbour_queries,
    rank_candidates,
    run_path,
    task_data,
)
from tfembed.evaluation.featurizers import (
    EvaluationError,
    Featurizer,
    export_featurizers,
    handmade_featurizer,
    random_tower_featurizer,
)
from tfembed.evaluation.probes import ProbeTask, probe_tasks, train_linear_probe
from tfembed.evaluation.significance import drawn_share
from tfembed.evaluation.split_features import SplitFeatures, featurize_split
from tfembed.export.registry import resolve_model
from tfembed.models.ranking import draw_rivals, neighbour_ranks
from tfembed.models.towers import TowerDesign
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


STANDARDISED = "standardised"
"""Key of the scores with each rendering's embeddings standardised by its own train clips."""

TESTED_METRICS = ("same_clip_recall_at_1", *(f"{task}_micro_f1" for task in TRANSFER_TASKS))
"""Metrics of each rendering tested for significance, raw and standardised (higher is better)."""


def standardise(features: np.ndarray, statistics: np.ndarray) -> np.ndarray:
    """Features z-scored per dimension by the mean and deviation of ``statistics``.

    Each rendering is standardised by its own clips (no labels needed): what a
    user can do with a collection recorded one way, so that a constant shift of
    the embedding with the instrument or the room cancels.

    Args:
        features: ``[n, d]`` embeddings to standardise.
        statistics: ``[m, d]`` embeddings of clips rendered the same way.
    """
    mean, deviation = statistics.mean(axis=0), statistics.std(axis=0)
    return (features - mean) / np.maximum(deviation, 1e-6)


@dataclasses.dataclass
class _Rendered:
    """Test and train features of every rendering, and the reference's validation."""

    test: dict[str, SplitFeatures]
    train: dict[str, SplitFeatures]
    validation: SplitFeatures

    def view(self, name: str, standardised: bool) -> _RowView:
        """One row's features, each rendering standardised by its train clips or not."""

        def values(split: SplitFeatures, rendering: str) -> np.ndarray:
            raw = split.features[name]
            return standardise(raw, self.train[rendering].features[name]) if standardised else raw

        reference = next(iter(self.test))
        return _RowView(
            {rendering: values(split, rendering) for rendering, split in self.test.items()},
            dataclasses.replace(
                self.train[reference], features={name: values(self.train[reference], reference)}
            ),
            dataclasses.replace(
                self.validation, features={name: values(self.validation, reference)}
            ),
        )


@dataclasses.dataclass
class _RowView:
    """A row's test features per rendering, and its reference train and validation features."""

    test: dict[str, np.ndarray]
    train: SplitFeatures
    validation: SplitFeatures


def _featurize(
    dataset: PreparedDataset, renderings: list[str], featurizers: list[Featurizer], stride: int
) -> _Rendered:
    names = [dataset.renderings[0], *renderings]
    return _Rendered(
        {name: featurize_split(dataset, TEST_SPLIT, featurizers, rendering=name) for name in names},
        {
            name: featurize_split(dataset, TRAIN_SPLIT, featurizers, stride=stride, rendering=name)
            for name in names
        },
        featurize_split(dataset, VALIDATION_SPLIT, featurizers),
    )


@dataclasses.dataclass
class _Rivals:
    """The fixed queries and rivals of the rank@100 measures on the test split."""

    queries: np.ndarray
    neighbours: np.ndarray
    neighbour_rivals: np.ndarray
    same_rivals: np.ndarray

    @classmethod
    def draw(cls, labels: dict[str, np.ndarray]) -> _Rivals:
        """Neighbour pairs and the same clip, each with 99 rivals drawn once (seed 0)."""
        count = len(labels["piece_id"])
        candidates = rank_candidates(count)
        queries, neighbours = neighbour_queries(labels)
        return cls(
            queries,
            neighbours,
            draw_rivals(
                count, np.stack([queries, neighbours], axis=1), seed=0, candidates=candidates
            ),
            draw_rivals(count, np.arange(count)[:, None], seed=0, candidates=candidates),
        )


def evaluate_robustness(
    dataset: PreparedDataset,
    renderings: list[str],
    featurizers: list[Featurizer],
    train_stride: int = 3,
    bootstrap_rounds: int = 1000,
    min_test_works: int = MIN_TEST_WORKS,
) -> dict[str, Any]:
    """Scores every row on each rendering against the reference (see the module).

    Every score is given twice: on the embeddings as they are, and under
    ``standardised``, with each rendering's embeddings standardised by its own
    train clips (:func:`standardise`; the probes then train on the reference's
    standardised clips).

    Args:
        dataset: A dataset with several renderings.
        renderings: The renderings to score (names), not the reference.
        featurizers: The rows (mel models and baselines).
        train_stride: Probes, and the statistics of each rendering, use every
            ``train_stride``-th train clip of a piece.
        bootstrap_rounds: Draws of the significance test.
        min_test_works: Metrics measured on fewer test works are not tested.

    Returns:
        ``{"reference", "renderings", "test_clips", "bootstrap_rounds", "rows",
        "significance"}``. ``rows``: row -> rendering -> scores; each rendering's
        scores have ``same_clip`` (R@1, R@5, MRR, median rank, ``rank_at_100_am``),
        ``neighbour_rank_at_100_am`` and ``probes`` (task -> micro-F1), the
        reference's ``neighbour_rank_at_100_am`` and ``probes``, and each the same
        under ``standardised``. ``significance``: rendering -> metric (of
        :data:`TESTED_METRICS`, ``standardised_`` prefixed for the standardised
        scores) -> the comparison of the rows.

    Raises:
        tfembed.errors.DatasetError: The dataset lacks a rendering.
    """
    for name in renderings:
        dataset.rendering_index(name)
    reference = dataset.renderings[0]
    features = _featurize(dataset, renderings, featurizers, train_stride)
    labels = features.test[reference].labels
    rivals = _Rivals.draw(labels)
    composers = len(dataset.manifest["vocabularies"]["composer"])
    tasks = [task for task in probe_tasks(composers) if task.name in TRANSFER_TASKS]
    names = [featurizer.name for featurizer in featurizers]
    works = manifest_works(dataset.manifest)
    tested = {
        rendering: BootstrapScores.empty(names, works, labels["piece_id"], bootstrap_rounds)
        for rendering in renderings
    }
    rows: dict[str, Any] = {}
    for name in names:
        raw = _row_scores(
            name, features.view(name, False), labels, tasks, rivals, tested, prefix=""
        )
        standardised = _row_scores(
            name, features.view(name, True), labels, tasks, rivals, tested, f"{STANDARDISED}_"
        )
        rows[name] = {
            rendering: {**raw[rendering], STANDARDISED: standardised[rendering]}
            for rendering in raw
        }
    directions = {
        f"{prefix}{metric}": True
        for prefix in ("", f"{STANDARDISED}_")
        for metric in TESTED_METRICS
    }
    return {
        "reference": reference,
        "renderings": renderings,
        "test_clips": len(labels["piece_id"]),
        "bootstrap_rounds": bootstrap_rounds,
        "rows": rows,
        "significance": {
            rendering: compare_rows(names, scores, min_test_works, directions)
            for rendering, scores in tested.items()
        },
    }


def _row_scores(
    name: str,
    view: _RowView,
    labels: dict[str, np.ndarray],
    tasks: list[ProbeTask],
    rivals: _Rivals,
    tested: dict[str, BootstrapScores],
    prefix: str,
) -> dict[str, dict[str, Any]]:
    """One row's scores per rendering; records the tested metrics in ``tested``."""
    reference, *renderings = view.test
    probes = {
        task.name: train_linear_probe(
            task, task_data(task, view.train, name), task_data(task, view.validation, name)
        )[0]
        for task in tasks
    }
    gallery = view.test[reference]
    scores = {reference: {"probes": _probe_scores(gallery, labels, probes, tasks)}}
    scores[reference]["neighbour_rank_at_100_am"] = _neighbour_rank(gallery, gallery, rivals)
    for rendering in renderings:
        query = view.test[rendering]
        ranks = gallery_ranks(query, gallery)
        clips = np.arange(len(query))
        same_clip = retrieval_summary(ranks)
        same_clip["rank_at_100_am"] = float(
            np.mean(neighbour_ranks(query, gallery, clips, rivals.same_rivals))
        )
        bootstrap = tested[rendering]
        probe_scores = _probe_scores(query, labels, probes, tasks, bootstrap, name, prefix)
        _record(
            bootstrap,
            name,
            f"{prefix}same_clip_recall_at_1",
            same_clip["recall_at_1"],
            drawn_share(ranks <= 1, bootstrap.weights(labels["piece_id"])),
            bootstrap.count_works(labels["piece_id"]),
        )
        scores[rendering] = {
            "same_clip": same_clip,
            "neighbour_rank_at_100_am": _neighbour_rank(query, gallery, rivals),
            "probes": probe_scores,
        }
    return scores


def _neighbour_rank(query: np.ndarray, gallery: np.ndarray, rivals: _Rivals) -> float:
    """Mean rank@100 of the neighbours: queries from ``query``, the rest from ``gallery``."""
    return float(
        np.mean(
            neighbour_ranks(
                query[rivals.queries], gallery, rivals.neighbours, rivals.neighbour_rivals
            )
        )
    )


def _record(
    scores: BootstrapScores, name: str, metric: str, value: float, draws: np.ndarray, works: int
) -> None:
    """Adds a tested metric of a row: its value on the test split and on every draw."""
    scores.metrics[name][metric] = {"mean": value, "std": 0.0}
    scores.draws[name][metric] = draws
    scores.test_works[metric] = works


def _probe_scores(
    features: np.ndarray,
    labels: dict[str, np.ndarray],
    probes: dict,
    tasks: list[ProbeTask],
    tested: BootstrapScores | None = None,
    name: str = "",
    prefix: str = "",
) -> dict[str, float]:
    """Task -> micro-F1 of the test clips as ``features`` embed them (recorded in ``tested``)."""
    scores = {}
    for task in tasks:
        known = task.known(labels)
        predicted = task.predictions(probes[task.name](features[known]))
        truth = labels[task.label][known]
        metric = task.metrics[0]
        scores[task.name] = float(task.score(truth, predicted)[metric])
        if tested is not None:
            pieces = labels["piece_id"][known]
            _record(
                tested,
                name,
                f"{prefix}{metric}",
                scores[task.name],
                task.score(truth, predicted, tested.weights(pieces))[metric],
                tested.count_works(pieces),
            )
    return scores


def robustness_markdown(result: dict[str, Any]) -> str:
    """Two tables per rendering of :func:`evaluate_robustness`'s result: raw and standardised."""
    reference = result["reference"]
    lines = [
        f"Each rendering's test clips as queries, the {result['test_clips']} test clips rendered "
        f"with {reference} as the gallery. Bold: the best row and every row not significantly "
        f"worse (paired bootstrap over test works, {result['bootstrap_rounds']} draws, "
        "Bonferroni), on R@1 and on the probes' score on the other rendering.",
        "",
    ]
    for rendering in result["renderings"]:
        significance = result["significance"][rendering]
        for prefix, title in (
            ("", "embeddings as they are"),
            (f"{STANDARDISED}_", "each rendering standardised by its own train clips"),
        ):
            lines += [
                f"### {rendering} -> {reference}: {title}",
                "",
                "| row | R@1 | MRR | median rank | rank@100 | neighbour rank@100, same / across "
                "| composer, reference -> other | key, reference -> other |",
                "|---|---:|---:|---:|---:|---:|---:|---:|",
            ]
            for name, row in result["rows"].items():
                same, other = row[reference], row[rendering]
                if prefix:
                    same, other = same[STANDARDISED], other[STANDARDISED]
                winners = {
                    metric: name in significance.get(f"{prefix}{metric}", {}).get("winners", [])
                    for metric in TESTED_METRICS
                }
                lines.append(_table_line(name, same, other, winners))
            lines.append("")
    return "\n".join(lines)


def _table_line(
    name: str, same: dict[str, Any], other: dict[str, Any], winners: dict[str, bool]
) -> str:
    """A row of a robustness table; ``winners``: tested metric -> whether it is bold."""

    def shown(metric: str, value: float) -> str:
        return f"**{value:.3f}**" if winners[metric] else f"{value:.3f}"

    clip = other["same_clip"]
    probes = [
        f"{same['probes'][task]:.3f} -> {shown(f'{task}_micro_f1', other['probes'][task])}"
        for task in TRANSFER_TASKS
    ]
    return (
        f"| {name} | {shown('same_clip_recall_at_1', clip['recall_at_1'])} | "
        f"{clip['mrr']:.3f} | {clip['median_rank']:.0f} | {clip['rank_at_100_am']:.2f} | "
        f"{same['neighbour_rank_at_100_am']:.2f} / {other['neighbour_rank_at_100_am']:.2f} | "
        + " | ".join(probes)
        + " |"
    )


def write_robustness_report(
    models: list[str],
    data: str | os.PathLike,
    renderings: list[str],
    out: str | os.PathLike,
    baselines: bool = True,
    bootstrap_rounds: int = 1000,
    min_test_works: int = MIN_TEST_WORKS,
) -> str:
    """Scores the mel models (and the mel baselines) on other renderings; writes the report.

    Args:
        models: Export folders or shipped model names; roll towers are left out.
        data: A dataset prepared with several soundfonts.
        renderings: The renderings to score against the reference.
        out: Folder for :data:`ROBUSTNESS_JSON` and its table (``robustness.md``).
        baselines: Score the random mel tower and the hand-made mel features too.
        bootstrap_rounds: Draws of the significance test.
        min_test_works: Metrics measured on fewer test works are not tested.

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
        for row in export_featurizers(
            resolve_model(model), dataset.grid, run_path(Path(str(model))).name
        )
    ]
    featurizers = [featurizer for featurizer in featurizers if featurizer.domain == "mel"]
    if baselines:
        design = next((row.metadata.get("train_config", {}) for row in featurizers), {})
        featurizers += [
            random_tower_featurizer("mel", dataset.grid, TowerDesign.recorded(design)),
            handmade_featurizer("mel", dataset.grid),
        ]
    if not featurizers:
        raise EvaluationError("--renderings needs a mel model or the baselines: none to score")
    names = [featurizer.name for featurizer in featurizers]
    if len(set(names)) < len(names):
        raise EvaluationError(
            f"--renderings scores rows by name; name the models' folders apart: {', '.join(names)}"
        )
    result = evaluate_robustness(
        dataset,
        renderings,
        featurizers,
        bootstrap_rounds=bootstrap_rounds,
        min_test_works=min_test_works,
    )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomically(out / ROBUSTNESS_JSON, result)
    table = robustness_markdown(result)
    markdown = out / Path(ROBUSTNESS_JSON).with_suffix(".md").name
    write_bytes_atomically(markdown, [table.encode()])
    return table
