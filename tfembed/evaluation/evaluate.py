"""The evaluation behind ``tfembed-eval``: every row, every metric, one report.

Rows are the exported models and, on the same splits, the baselines (chance,
the same tower with random weights, hand-made features). Several exports of one
variant (training seeds) make one row. Metrics are rank@100 on the test split
and four probe tasks, each with the paper's MLP head and a linear probe;
models and baselines are compared together for significance, by a bootstrap
over test works (see :mod:`tfembed.evaluation.significance`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from tfembed.dataset.manifest import TEST_SPLIT, TRAIN_SPLIT, VALIDATION_SPLIT, open_dataset
from tfembed.errors import DatasetError
from tfembed.evaluation.featurizers import (
    EvaluationError,
    Featurizer,
    chance_featurizer,
    export_featurizers,
    handmade_featurizer,
    random_tower_featurizer,
)
from tfembed.evaluation.metrics import f1_scores
from tfembed.evaluation.plots import plot_projections, plot_training_curves
from tfembed.evaluation.probes import (
    ProbeTask,
    probe_protocol,
    probe_tasks,
    train_linear_probe,
    train_mlp_probes,
)
from tfembed.evaluation.report import LINEAR_PREFIX, METRIC_DIRECTIONS, write_markdown
from tfembed.evaluation.significance import clip_weights, compare, piece_draws, seed_draws
from tfembed.evaluation.split_features import (
    EVALUATION_BATCH_SIZE,
    SplitFeatures,
    featurize_splits,
)
from tfembed.export.registry import resolve_model
from tfembed.models.ranking import RANK_CANDIDATES, draw_rivals, neighbour_ranks, rank_summary
from tfembed.models.towers import TowerDesign
from tfembed.training.config import NOT_RECIPE_FIELDS, TrainConfig
from tfembed.training.run_folder import SAVED_MODEL_DIR
from tfembed.utils.atomic import write_json_atomically, write_npz_atomically

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
TEST_EMBEDDINGS = "test_embeddings.npz"
TRAIN_STRIDE = 3
"""Probes train on every third clip of each train piece: neighbouring 3-second
clips are near-duplicates to a probe, and embedding a third of the train split
keeps one model plus its baselines within minutes on two cores."""

MIN_TEST_WORKS = 5
"""Default: fewer test works than this for a metric and it is not tested for significance."""

SEED_SUFFIX = r"-seed\d+$"
"""How a training seed ends an export's folder name (``paper-seed0``)."""


def run_path(path: Path) -> Path:
    """How a model's folder is named in rows: ``RUN`` for training's ``RUN/saved_model``."""
    return path.parent if path.name == SAVED_MODEL_DIR and path.parent.name else path


def _row_names(paths: list[Path], variants: list[str]) -> list[str]:
    """Variant names, made unique where models share one.

    The fewest trailing folder names that tell them apart are added:
    ``MEL_MEL (seed1)``, or ``MEL_MEL (a/seed1)`` beside ``b/seed1``. The two
    towers of a joint export share its path, not their name.

    Raises:
        EvaluationError: One model is given twice.
    """
    given = [(path.resolve(), variant) for path, variant in zip(paths, variants, strict=True)]
    for path, variant in given:
        if given.count((path, variant)) > 1:
            raise EvaluationError(f"--saved_model {path} is given twice; give each model once")
    names = []
    for path, variant in zip(paths, variants, strict=True):
        sharing = [
            run_path(other.absolute())
            for other, other_variant in zip(paths, variants, strict=True)
            if other_variant == variant
        ]
        if len(sharing) == 1:
            names.append(variant)
            continue
        tails = distinct_tails(sharing)
        names.append(f"{variant} ({tails[sharing.index(run_path(path.absolute()))]})")
    return names


def distinct_tails(paths: list[Path]) -> list[str]:
    """The fewest trailing folder names of each path that tell it from the others.

    ``seed1`` beside ``seed2``; ``a/seed1`` beside ``b/seed1``; the whole path where
    no tail does.
    """
    parts = [path.absolute().parts for path in paths]
    tails = []
    for own in parts:
        depth = next(
            (
                depth
                for depth in range(1, len(own) + 1)
                if sum(other[-depth:] == own[-depth:] for other in parts) == 1
            ),
            None,
        )
        tails.append("/".join(own[-depth:]) if depth else str(Path(*own)))
    return tails


def _featurizers(
    saved_models: list[Path], grid, baselines: bool, domain: str | None = None
) -> tuple[list[Featurizer], list[Featurizer], list[Path]]:
    """The models' rows (a joint export gives one per tower), the baselines, each row's export.

    With ``domain``, only the towers that read it (and its baselines).

    Raises:
        EvaluationError: No model has a tower of ``domain``.
    """
    towers = [
        (path, row)
        for path in saved_models
        for row in export_featurizers(path, grid)
        if domain is None or row.domain == domain
    ]
    if not towers:
        raise EvaluationError(
            f"none of the models has a {domain} tower: "
            + ", ".join(str(path) for path in saved_models)
        )
    paths = [path for path, _ in towers]
    models = [row for _, row in towers]
    for model, name in zip(
        models, _row_names(paths, [model.name for model in models]), strict=True
    ):
        model.name = name
    others: list[Featurizer] = []
    if baselines:
        others.append(chance_featurizer())
        for domain in sorted({model.domain for model in models}):
            design = next(
                model.metadata["train_config"] for model in models if model.domain == domain
            )
            others.append(random_tower_featurizer(domain, grid, TowerDesign.recorded(design)))
            others.append(handmade_featurizer(domain, grid))
    return models, others, paths


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


def task_data(task: ProbeTask, split: SplitFeatures, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The features and labels of the clips of a split whose label for the task is known."""
    known = task.known(split.labels)
    return split.features[name][known], split.labels[task.label][known]


def _probe_rows(
    task: ProbeTask,
    splits: dict[str, SplitFeatures],
    names: list[str],
    seeds: int,
) -> tuple[dict[str, dict[str, list[np.ndarray]]], dict[str, dict[str, str]]]:
    """Test outputs of each row's probes, and the configuration each chose.

    Returns:
        Row -> probe kind (``mlp``, ``linear``) -> outputs on the test clips, one
        array per seed; and row -> kind -> the chosen configuration.
    """
    outputs: dict[str, dict[str, list[np.ndarray]]] = {}
    chosen: dict[str, dict[str, str]] = {}
    for name in names:
        train = task_data(task, splits[TRAIN_SPLIT], name)
        validation = task_data(task, splits[VALIDATION_SPLIT], name)
        test_features, _ = task_data(task, splits[TEST_SPLIT], name)
        heads, config = train_mlp_probes(task, train, validation, seeds)
        linear, strength = train_linear_probe(task, train, validation)
        outputs[name] = {
            "mlp": [head(test_features) for head in heads],
            "linear": [linear(test_features)],
        }
        chosen[name] = {"mlp": str(config), "linear": f"{strength:g}"}
    return outputs, chosen


def _summary(per_seed: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    return {
        metric: {
            "mean": float(np.mean([scores[metric] for scores in per_seed])),
            "std": float(np.std([scores[metric] for scores in per_seed])),
        }
        for metric in per_seed[0]
    }


@dataclasses.dataclass
class BootstrapScores:
    """Each row's metrics on the test split and on every bootstrap draw of its works.

    Attributes:
        metrics: Row -> metric -> ``{"mean", "std"}`` (over probe seeds).
        draws: Row -> metric -> the metric on each draw (seed-averaged).
        works: The test works, in the order of ``counts``' columns.
        counts: ``[draws, works]`` how often each work is drawn.
        work_of: Piece id -> its work.
        test_works: Metric -> number of test works its clips come from.
    """

    metrics: dict[str, dict[str, dict[str, float]]]
    draws: dict[str, dict[str, np.ndarray]]
    works: np.ndarray
    counts: np.ndarray
    work_of: dict[str, str]
    test_works: dict[str, int] = dataclasses.field(default_factory=dict)

    @classmethod
    def empty(
        cls, names: list[str], work_of: dict[str, str], test_piece_ids: np.ndarray, rounds: int
    ) -> BootstrapScores:
        """No metric yet for these rows; ``rounds`` bootstrap draws of the test works."""
        return cls(
            {name: {} for name in names},
            {name: {} for name in names},
            *piece_draws(_works(work_of, test_piece_ids), rounds),
            work_of,
        )

    def works_of(self, piece_ids: np.ndarray) -> np.ndarray:
        """The work of each of these pieces."""
        return _works(self.work_of, piece_ids)

    def weights(self, piece_ids: np.ndarray) -> np.ndarray:
        """``[draws, clips]`` bootstrap weights of clips (or pieces) with these piece ids."""
        return clip_weights(self.works, self.counts, self.works_of(piece_ids))

    def count_works(self, piece_ids: np.ndarray) -> int:
        """Distinct works of these pieces."""
        return len(np.unique(self.works_of(piece_ids)))


def _works(work_of: dict[str, str], piece_ids: np.ndarray) -> np.ndarray:
    """The work of each piece id (bytes or str); a piece missing from ``work_of`` is its own."""
    return np.array([work_of.get(piece, piece) for piece in np.asarray(piece_ids).astype(str)])


def manifest_works(manifest: dict[str, Any]) -> dict[str, str]:
    """Piece id -> work, from the manifest (each piece its own work in older data)."""
    return {piece["piece_id"]: piece.get("work", piece["piece_id"]) for piece in manifest["pieces"]}


def _score_ranks(test: SplitFeatures, names: list[str], scores: BootstrapScores) -> dict[str, int]:
    """rank@100 of every row; returns the query counts."""
    queries, ranks = _rank_rows(test, names)
    weights = scores.weights(test.labels["piece_id"][queries])
    works = scores.count_works(test.labels["piece_id"][queries])
    for name in names:
        for metric, value in rank_summary(ranks[name]).items():
            scores.metrics[name][metric] = {"mean": value, "std": 0.0}
            scores.test_works[metric] = works
        on_draws = [rank_summary(ranks[name], draw) for draw in weights]
        for metric in on_draws[0]:
            scores.draws[name][metric] = np.array([draw[metric] for draw in on_draws])
    return {
        "queries": len(queries),
        "test_clips": len(test),
        "candidates": rank_candidates(len(test)),
    }


def piece_predictions(
    probabilities: np.ndarray, piece_ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A piece's prediction: the class of highest mean probability over its clips.

    Returns:
        The distinct piece ids (sorted) and each one's predicted class.
    """
    pieces, index = np.unique(piece_ids, return_inverse=True)
    sums = np.zeros((len(pieces), probabilities.shape[1]))
    np.add.at(sums, index, probabilities)
    return pieces, np.argmax(sums, axis=1)


def _scored(
    task: ProbeTask,
    truth: np.ndarray,
    outputs: list[np.ndarray],
    piece_ids: np.ndarray,
    scores: BootstrapScores,
) -> tuple[list[dict[str, float]], dict[str, np.ndarray]]:
    """Scores of one probe's seeds, and their mean on every draw.

    The composer task is scored per clip and per piece (``composer_piece_*``).
    """
    weights = scores.weights(piece_ids)
    per_seed, on_draws = [], []
    for output in outputs:
        predicted = task.predictions(output)
        full, drawn = task.score(truth, predicted), task.score(truth, predicted, weights)
        if task.label == "composer":
            pieces, by_piece = piece_predictions(output, piece_ids)
            piece_truth = {piece: label for piece, label in zip(piece_ids, truth, strict=True)}
            piece_truth = np.array([piece_truth[piece] for piece in pieces])
            piece_weights = scores.weights(pieces)
            for metric, value in f1_scores(piece_truth, by_piece).items():
                full[f"composer_piece_{metric}"] = value
            for metric, value in f1_scores(piece_truth, by_piece, piece_weights).items():
                drawn[f"composer_piece_{metric}"] = value
        per_seed.append(full)
        on_draws.append(drawn)
    with np.errstate(invalid="ignore"):
        mean_draws = {metric: np.mean([d[metric] for d in on_draws], axis=0) for metric in full}
    return per_seed, mean_draws


def unprobeable(task: ProbeTask, splits: dict[str, SplitFeatures]) -> str | None:
    """Why a probe task cannot be trained and scored on these splits, or None if it can."""
    known = {split: task.known(features.labels) for split, features in splits.items()}
    if not all(mask.any() for mask in known.values()):
        return "no clip with a known label in at least one split"
    train_labels = splits[TRAIN_SPLIT].labels[task.label][known[TRAIN_SPLIT]]
    if task.classes and len(np.unique(train_labels)) < 2:
        return "one class only in the train split: nothing to tell apart"
    return None


def _score_probes(
    splits: dict[str, SplitFeatures],
    names: list[str],
    seeds: int,
    composers: int,
    scores: BootstrapScores,
) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
    """The four probe tasks for every row, MLP and linear probes.

    Returns:
        Clip counts, skipped tasks, and the configuration each probe chose.
    """
    test = splits[TEST_SPLIT]
    counts: dict[str, Any] = {}
    skipped = {}
    chosen: dict[str, Any] = {}
    for task in probe_tasks(composers):
        known = {split: task.known(features.labels) for split, features in splits.items()}
        counts[task.name] = {
            split: {"used": int(mask.sum()), "left_out": int((~mask).sum())}
            for split, mask in known.items()
        }
        reason = unprobeable(task, splits)
        if reason:
            skipped[task.name] = reason
            continue
        print(f"probe task {task.name}: {len(names)} rows, MLP grid and linear", flush=True)
        outputs, chosen[task.name] = _probe_rows(task, splits, names, seeds)
        truth = test.labels[task.label][known[TEST_SPLIT]]
        piece_ids = test.labels["piece_id"][known[TEST_SPLIT]]
        works = scores.count_works(piece_ids)
        for name in names:
            for kind, prefix in (("mlp", ""), ("linear", LINEAR_PREFIX)):
                per_seed, on_draws = _scored(task, truth, outputs[name][kind], piece_ids, scores)
                for metric, value in _summary(per_seed).items():
                    scores.metrics[name][prefix + metric] = value
                    scores.draws[name][prefix + metric] = on_draws[metric]
                    scores.test_works[prefix + metric] = works
    return counts, skipped, chosen


def _recipe(model: Featurizer) -> str:
    """The training settings and data of an export but its seed (one recipe, several seeds).

    A setting that an older export does not record counts as its default. An export of
    the mean of checkpoints (``tfembed-export --checkpoint average``) is a recipe of its
    own: beside the runs' single-checkpoint exports it makes another row.
    """
    config = TrainConfig.recorded_with_defaults(model.metadata.get("train_config", {}))
    config["training_clips"] = _training_clips(model.metadata, config)
    config["averaged_checkpoints"] = bool(model.metadata.get("averaged_checkpoints"))
    for field in NOT_RECIPE_FIELDS:
        config.pop(field, None)
    return json.dumps(config, sort_keys=True, default=str)


def _training_clips(metadata: dict[str, Any], config: dict[str, Any]) -> int | None:
    """Clips an export was trained on: as recorded, else counted in its dataset if still there."""
    dataset = metadata.get("dataset", {})
    if "training_clips" in dataset:
        return dataset["training_clips"]
    try:
        prepared = open_dataset(dataset["data_dir"])
    except (KeyError, DatasetError):
        return None
    return prepared.clip_count(*TrainConfig.splits_read(config["pretrain"]))


def variant_rows(
    models: list[Featurizer], names: list[str], paths: list[Path]
) -> dict[str, list[str]]:
    """Table rows: each variant with the exports (training seeds) that make it up.

    Exports of one variant are those with the same variant name (the metadata's),
    the same input domain and the same training settings but the seed; a
    variant's two towers (``MEL_SYM`` exported as its mel and its roll tower)
    stay two rows. When one variant has several recipes (an ablation), each
    row is named after its first export's folder without its ``-seedN`` suffix.
    """
    groups: dict[tuple[str, str, str], list[tuple[Path, str]]] = {}
    for model, name, path in zip(models, names, paths, strict=True):
        key = (model.metadata.get("variant", name), model.domain, _recipe(model))
        groups.setdefault(key, []).append((path, name))
    domains = [(variant, domain) for variant, domain, _ in groups]
    variants = [variant for variant, _ in domains]
    rows = {}
    for (variant, domain, _), members in groups.items():
        names_of_members = [name for _, name in members]
        if len(members) == 1:
            rows[names_of_members[0]] = names_of_members
        elif domains.count((variant, domain)) > 1:
            folder = run_path(members[0][0]).name
            rows[f"{variant} ({re.sub(SEED_SUFFIX, '', folder)})"] = names_of_members
        else:
            rows[variant if variants.count(variant) == 1 else f"{variant} ({domain})"] = (
                names_of_members
            )
    return rows


def _merge_seeds(scores: BootstrapScores, variants: dict[str, list[str]]) -> dict[str, Any]:
    """Replaces the exports of each multi-seed variant by one row; returns theirs.

    The row's value is the mean over exports; its spread combines the spread over
    training seeds and over probe seeds (law of total variance); its draws are
    :func:`seed_draws` of the exports' draws.
    """
    per_export = {}
    for position, (variant, members) in enumerate(variants.items()):
        if members == [variant]:
            continue
        merged, merged_draws = {}, {}
        for metric in scores.metrics[members[0]]:
            values = [scores.metrics[member][metric] for member in members]
            means = np.array([value["mean"] for value in values])
            within = np.mean([value["std"] ** 2 for value in values])
            merged[metric] = {
                "mean": float(means.mean()),
                "std": float(np.sqrt(within + means.var())),
                "seeds": len(members),
            }
            merged_draws[metric] = seed_draws(
                [scores.draws[member][metric] for member in members], seed=position
            )
        for member in members:
            per_export[member] = scores.metrics.pop(member)
            scores.draws.pop(member)
        scores.metrics[variant], scores.draws[variant] = merged, merged_draws
    return per_export


def compare_rows(
    row_names: list[str],
    scores: BootstrapScores,
    min_test_works: int,
    directions: dict[str, bool] = METRIC_DIRECTIONS,
) -> dict[str, Any]:
    """The comparison of every row, models and baselines, on each metric with enough works.

    A bootstrap over fewer than ``min_test_works`` works cannot tell noise from a
    difference, so such metrics are not tested (and nothing is marked bold). Each
    tested row's metric gains its bootstrap standard error (``se``).

    Args:
        row_names: The rows to compare.
        scores: Their metrics and draws.
        min_test_works: Fewest test works a tested metric comes from.
        directions: The metrics to test, and whether higher is better.

    Returns:
        Metric -> the :class:`~tfembed.evaluation.significance.Comparison` as a dict.
    """
    significance = {}
    for metric, higher in directions.items():
        present = [name for name in row_names if metric in scores.metrics[name]]
        if len(present) < 2 or scores.test_works.get(metric, 0) < min_test_works:
            continue
        comparison = compare(
            {name: scores.metrics[name][metric]["mean"] for name in present},
            {name: scores.draws[name][metric] for name in present},
            higher,
        )
        significance[metric] = vars(comparison)
        for name in present:
            scores.metrics[name][metric]["se"] = comparison.standard_errors[name]
    return significance


def evaluate(
    saved_models: list[str | os.PathLike],
    data_dir: str | os.PathLike,
    out: str | os.PathLike,
    seeds: int = 3,
    baselines: bool = True,
    bootstrap_rounds: int = 1000,
    batch_size: int = EVALUATION_BATCH_SIZE,
    min_test_works: int = MIN_TEST_WORKS,
    train_stride: int = TRAIN_STRIDE,
    domain: str | None = None,
) -> dict[str, Any]:
    """Evaluates exported towers on a prepared dataset and writes the report.

    Args:
        saved_models: Folders written by ``tfembed-export`` (or training), or
            names of shipped models such as ``mel_mel``.
        data_dir: A dataset written by ``tfembed-prepare``.
        out: Folder for ``report.json``, ``report.md``, plots and test embeddings.
        seeds: MLP heads trained per row and task (mean and spread reported);
            the first also chooses the configuration.
        baselines: Whether to add chance, random-tower and hand-made rows.
        bootstrap_rounds: Draws of the significance test.
        batch_size: Clips per batch when embedding.
        min_test_works: Metrics measured on fewer test works are not tested for
            significance.
        train_stride: Probes train on the train clips whose index is a
            multiple of this (validation and test use every clip).
        domain: Score only the towers that read this domain (``mel`` or
            ``roll``), e.g. one tower of a joint export against one-domain
            models; ``None`` for every tower.

    Returns:
        The report (also written as ``report.json``).

    Raises:
        EvaluationError: A SavedModel does not fit the dataset, or a split is empty.
    """
    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dataset = open_dataset(data_dir)
    manifest = dataset.manifest
    models, others, paths = _featurizers(
        [resolve_model(path) for path in saved_models], dataset.grid, baselines, domain
    )
    names = [row.name for row in models + others]
    try:
        splits = featurize_splits(dataset, models + others, batch_size, train_stride)
    except ValueError as error:
        raise EvaluationError(str(error)) from error
    timing = {"embedding": time.perf_counter() - started}
    test = splits[TEST_SPLIT]
    model_names = [model.name for model in models]
    _write_test_embeddings(out / TEST_EMBEDDINGS, test, model_names)
    scores = BootstrapScores.empty(
        names, manifest_works(manifest), test.labels["piece_id"], bootstrap_rounds
    )
    mark = time.perf_counter()
    rank_counts = _score_ranks(test, names, scores)
    timing["ranking"] = time.perf_counter() - mark
    mark = time.perf_counter()
    task_counts, skipped_tasks, chosen = _score_probes(
        splits, names, seeds, len(manifest["vocabularies"]["composer"]), scores
    )
    timing["probes"] = time.perf_counter() - mark
    variants = variant_rows(models, model_names, paths)
    per_export = _merge_seeds(scores, variants)
    table_rows = list(variants) + [row.name for row in others]
    significance = compare_rows(table_rows, scores, min_test_works)

    report = {
        "data": str(Path(data_dir).resolve()),
        "data_created": manifest.get("created"),
        "rows": _report_rows(models, others, variants, paths),
        "seeds": seeds,
        "train_stride": train_stride,
        "bootstrap_rounds": bootstrap_rounds,
        "counts": {"rank": rank_counts, **task_counts},
        "test_works": scores.test_works,
        "test_pieces": len(np.unique(test.labels["piece_id"])),
        "skipped_tasks": skipped_tasks,
        "probe_protocol": probe_protocol(),
        "probe_choices": chosen,
        "metrics": scores.metrics,
        "export_metrics": per_export,
        "significance": significance,
        "against_random_tower": _against_baseline("random tower", models, variants, others, scores),
        "against_hand_made": _against_baseline("hand-made", models, variants, others, scores),
        "plots": _plots(out, test, names, models, paths),
        "seconds": round(time.perf_counter() - started, 1),
        "timing_seconds": {phase: round(seconds, 1) for phase, seconds in timing.items()},
    }
    write_json_atomically(out / REPORT_JSON, report)
    write_markdown(report, out / REPORT_MD)
    return report


def _write_test_embeddings(path: Path, test: SplitFeatures, model_names: list[str]) -> None:
    """Writes the models' test embeddings with the clips' composer, piece and index."""
    write_npz_atomically(
        path,
        {
            **{name: test.features[name] for name in model_names},
            "composer": test.labels["composer"],
            "piece_id": test.labels["piece_id"],
            "clip_index": test.labels["clip_index"],
        },
    )


def _report_rows(
    models: list[Featurizer],
    others: list[Featurizer],
    variants: dict[str, list[str]],
    paths: list[Path],
) -> list[dict[str, Any]]:
    """The report's rows: one per variant (with its exports), then the baselines."""
    model_names = [model.name for model in models]
    rows = []
    for variant, members in variants.items():
        exports = []
        for member in members:
            index = model_names.index(member)
            exports.append(
                {
                    "name": member,
                    "saved_model": str(paths[index].resolve()),
                    "checkpoint_step": models[index].metadata.get("checkpoint_step"),
                }
            )
        domain = next(model.domain for model in models if model.name == members[0])
        rows.append({"name": variant, "kind": "model", "domain": domain, "exports": exports})
    return rows + [{"name": row.name, "kind": row.kind, "domain": row.domain} for row in others]


def _plots(
    out: Path,
    test: SplitFeatures,
    names: list[str],
    models: list[Featurizer],
    paths: list[Path],
) -> list[str]:
    """Draws the projection of the test embeddings and the training curves; their names."""
    drawn = (
        plot_projections(test, names, out / "projection.png"),
        plot_training_curves(models, paths, out / "training_curves.png"),
    )
    return [plot.name for plot in drawn if plot is not None]


def _against_baseline(
    kind: str,
    models: list[Featurizer],
    variants: dict[str, list[str]],
    others: list[Featurizer],
    scores: BootstrapScores,
) -> dict[str, Any]:
    """Each model row against the baseline of one kind in its domain, per task's main metric.

    ``kind`` is ``"random tower"`` (the same tower with random weights) or
    ``"hand-made"`` (the hand-made features).

    The main metric of every probe task is checked for the MLP head and for the
    linear probe (``linear_`` metrics). ``better`` compares the values;
    ``p_value`` is the one-sided paired-bootstrap p-value of "the model is
    better" (not corrected for the number of checks).
    """
    checks = {}
    domain_of = {model.name: model.domain for model in models}
    for variant, members in variants.items():
        baseline = next(
            (
                row.name
                for row in others
                if row.kind == kind and row.domain == domain_of[members[0]]
            ),
            None,
        )
        if baseline is None:
            continue
        better, p_values = {}, {}
        main_metrics = [task.metrics[0] for task in probe_tasks(1)]
        for metric in ("rank_am", *main_metrics, *(f"linear_{name}" for name in main_metrics)):
            if metric not in scores.metrics[variant] or metric not in scores.draws[variant]:
                continue
            sign = 1.0 if METRIC_DIRECTIONS[metric] else -1.0
            own, theirs = scores.metrics[variant][metric], scores.metrics[baseline][metric]
            better[metric] = bool(sign * (own["mean"] - theirs["mean"]) > 0)
            advantage = sign * (scores.draws[variant][metric] - scores.draws[baseline][metric])
            advantage = advantage[np.isfinite(advantage)]
            p_values[metric] = float((np.sum(advantage <= 0) + 1) / (len(advantage) + 1))
        checks[variant] = {"baseline": baseline, "better": better, "p_values": p_values}
    return checks
