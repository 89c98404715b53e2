"""One space for audio and piano roll: the two towers of a joint model scored across domains.

A :class:`CrossModalRow` is a name and two featurizers, one reading log-mel
clips and one reading piano-roll clips of the same moments, that embed into one
space: the two towers of a joint export, or a baseline
(:func:`crossmodal_baselines`). On the test split, with the mel clips of the
reference rendering or of another one of a dataset prepared with several
soundfonts, and cosine similarity throughout:

* Same-moment retrieval, both ways. Audio -> roll: each test clip's mel is a
  query among the rolls of all test clips; roll -> audio: each roll among all
  mels. The rank of the clip's own counterpart (1 = best; another as similar
  counts against the query) gives R@1, R@5, MRR and the median rank.
* Piece identification from 30 seconds of audio. The excerpts are the
  non-overlapping runs of ``excerpt_clips`` (10) consecutive clips of a test
  piece; clips are consecutive, non-overlapping 3-second windows (clip ``i``
  starts at ``i`` clip lengths), and a silent clip, left out at preparation,
  ends a run. An excerpt slides along each test piece's roll clips, laid out at
  their clip indices: at each offset its score is the mean cosine of its clips
  with the roll clips they face (a diagonal of the similarity matrix), over the
  pairs whose roll clip exists; an offset counts when at least half the excerpt
  faces roll clips. A piece scores its best offset's score; the rank of the
  right piece among all test pieces (ties count against the excerpt) gives
  top-1 accuracy and MRR.
* Alignment. The best offset inside the right piece against the excerpt's true
  start: the absolute error in seconds (among offsets that tie, the one
  farthest from the truth). Per-window matching: each clip of an excerpt alone,
  matched to the most similar roll clip of the right piece. Reported as the
  median absolute error and the share of exact matches.

Rows are compared by the paired bootstrap over test works of the main report
(:func:`tfembed.evaluation.evaluate.compare_rows`) on R@1 both ways, piece
top-1 and both median errors, and written as ``crossmodal.json`` and a table,
``crossmodal.md``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from tfembed.dataset.manifest import TEST_SPLIT, PreparedDataset, open_dataset
from tfembed.evaluation.evaluate import (
    MIN_TEST_WORKS,
    BootstrapScores,
    compare_rows,
    distinct_tails,
    manifest_works,
    run_path,
)
from tfembed.evaluation.featurizers import (
    EvaluationError,
    Featurizer,
    random_tower_featurizer,
    saved_model_featurizer,
)
from tfembed.evaluation.identical_rolls import test_split_identical_rolls
from tfembed.evaluation.joint import joint_export
from tfembed.evaluation.metrics import weighted_median
from tfembed.evaluation.report import claims, table
from tfembed.evaluation.robustness import gallery_ranks, retrieval_summary
from tfembed.evaluation.significance import drawn_share
from tfembed.evaluation.split_features import SplitFeatures, featurize_split
from tfembed.features.framegrid import DOMAINS, FrameGrid
from tfembed.features.handmade import handmade_features, handmade_groups
from tfembed.models.towers import PAPER_TOWER, TowerDesign
from tfembed.utils.atomic import write_bytes_atomically, write_json_atomically

EXCERPT_CLIPS = 10
"""Clips of an audio excerpt for piece identification and alignment (30 s of 3-second clips)."""

EXCERPT_BLOCK = 256
"""Excerpts aligned at once: their similarities to the longest piece stay small in memory."""

CROSSMODAL_JSON = "crossmodal.json"
"""The file of ``tfembed-eval --crossmodal`` in the output folder (a table beside it, ``.md``)."""

TESTED_DIRECTIONS = {
    "audio_to_roll_recall_at_1": True,
    "roll_to_audio_recall_at_1": True,
    "piece_top1": True,
    "alignment_median_error_s": False,
    "window_median_error_s": False,
}
"""The metrics tested for significance, and whether higher is better."""

RETRIEVAL_COLUMNS = tuple(
    (f"{header}, {arrow}", f"{direction}_{metric}")
    for direction, arrow in (("audio_to_roll", "audio -> roll"), ("roll_to_audio", "roll -> audio"))
    for header, metric in (
        ("R@1", "recall_at_1"),
        ("R@5", "recall_at_5"),
        ("MRR", "mrr"),
        ("median rank", "median_rank"),
    )
)
EXCERPT_COLUMNS = (
    ("piece top-1", "piece_top1"),
    ("piece MRR", "piece_mrr"),
    ("alignment median error (s)", "alignment_median_error_s"),
    ("exact", "alignment_exact"),
    ("per-window median error (s)", "window_median_error_s"),
    ("exact", "window_exact"),
)


@dataclasses.dataclass
class CrossModalRow:
    """One row of the cross-modal report: two featurizers that embed into one space.

    Attributes:
        name: Row name in the report.
        mel: Reads log-mel clips.
        roll: Reads piano-roll clips.
        kind: ``model``, or the kind of baseline (``hand-made``, ``random tower``).
    """

    name: str
    mel: Featurizer
    roll: Featurizer
    kind: str = "model"


def pitch_class_featurizer(domain: str, grid: FrameGrid) -> Featurizer:
    """A clip's 12-bin pitch-class profile, L2-normalised, as the hand-made features count it.

    Mel clips: the log is undone (power ``exp(log-mel) - log_offset``), the power
    is averaged over the clip's frames and each band's share spread over the
    pitch classes its filter covers (the hand-made chroma). Rolls: each pitch
    class's share of the sounding note-frames (the hand-made histogram).
    """
    edges = np.cumsum((0, *handmade_groups(domain, grid)))
    group = 2 if domain == "mel" else 0  # after band means and spreads; first of the roll's

    def embed(clips: np.ndarray) -> np.ndarray:
        profile = handmade_features(clips, domain, grid)[:, edges[group] : edges[group + 1]]
        return profile / np.maximum(np.linalg.norm(profile, axis=1, keepdims=True), 1e-12)

    return Featurizer(f"pitch classes ({domain})", "hand-made", domain, embed)


def crossmodal_baselines(grid: FrameGrid, design: TowerDesign = PAPER_TOWER) -> list[CrossModalRow]:
    """The rows a joint model has to beat.

    * ``chroma vs pitch classes``: the audio's chroma against the roll's
      pitch-class profile (:func:`pitch_class_featurizer`), a space made by hand.
    * ``random towers``: the joint model's tower design with random weights,
      one tower per domain (seeds 0 and 1), as a joint model starts before
      training.
    """
    return [
        CrossModalRow(
            "chroma vs pitch classes",
            pitch_class_featurizer("mel", grid),
            pitch_class_featurizer("roll", grid),
            "hand-made",
        ),
        CrossModalRow(
            "random towers",
            random_tower_featurizer("mel", grid, design, seed=0),
            random_tower_featurizer("roll", grid, design, seed=1),
            "random tower",
        ),
    ]


def excerpt_rows(
    piece_ids: np.ndarray,
    clip_indices: np.ndarray,
    length: int = EXCERPT_CLIPS,
    most: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """The audio excerpts: non-overlapping runs of ``length`` consecutive clips of a piece.

    Each piece's clips are taken in time order; a run starts at its first clip
    and after each excerpt, and a missing clip index ends it.

    Args:
        piece_ids: Piece of every clip.
        clip_indices: Index of every clip within its piece.
        length: Clips per excerpt.
        most: Keep at most this many excerpts, drawn at random (all if None).
        seed: Seed of that draw.

    Returns:
        int ``[excerpts, length]``: the clips (positions in the arrays) of each
        excerpt in time order, excerpts in piece order.
    """
    order = np.lexsort((clip_indices, piece_ids))
    excerpts, run = [], []
    for row in order:
        if run and (
            piece_ids[row] != piece_ids[run[-1]] or clip_indices[row] != clip_indices[run[-1]] + 1
        ):
            run = []
        run.append(row)
        if len(run) == length:
            excerpts.append(run)
            run = []
    rows = np.array(excerpts, np.int64).reshape(-1, length)
    if most is not None and len(rows) > most:
        rows = rows[np.sort(np.random.default_rng(seed).choice(len(rows), most, replace=False))]
    return rows


@dataclasses.dataclass
class Alignment:
    """Where the audio excerpts were found, in clips.

    Attributes:
        piece_ranks: int ``[excerpts]``: rank of the right piece (1 = best).
        offset_errors: int ``[excerpts]``: best offset in the right piece minus
            the true one, absolute, in clips.
        window_errors: int ``[excerpts, length]``: each excerpt clip's best
            matching roll clip in the right piece minus its own, absolute, in clips.
    """

    piece_ranks: np.ndarray
    offset_errors: np.ndarray
    window_errors: np.ndarray


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, np.float64)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def _farthest_tie(scores: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """Over the last axis: the distance of the best score, the largest among ties."""
    tied = scores == scores.max(axis=-1, keepdims=True)
    return np.where(tied, distances, -1).max(axis=-1)


def _timeline(
    roll: np.ndarray, clip_indices: np.ndarray, length: int
) -> tuple[np.ndarray, np.ndarray]:
    """A piece's roll embeddings at their clip indices (zero between), and where a clip is.

    The timeline spans clip index 0 to the piece's last, and at least ``length`` clips.
    """
    span = max(int(clip_indices.max()) + 1, length)
    timeline = np.zeros((span, roll.shape[1]))
    present = np.zeros(span, bool)
    timeline[clip_indices] = roll
    present[clip_indices] = True
    return timeline, present


def _align_block(
    queries: np.ndarray,
    true_piece: np.ndarray,
    true_start: np.ndarray,
    timelines: list[tuple[np.ndarray, np.ndarray]],
) -> Alignment:
    """:func:`align_excerpts` of some excerpts (unit ``queries``) against every piece."""
    count, length = queries.shape[:2]
    steps = np.arange(length)
    best = np.empty((count, len(timelines)))
    offset_errors = np.zeros(count, np.int64)
    window_errors = np.zeros((count, length), np.int64)
    for number, (timeline, present) in enumerate(timelines):
        similarity = queries @ timeline.T  # [excerpts, length, span]
        faced = np.arange(len(timeline) - length + 1)[:, np.newaxis] + steps  # [offsets, length]
        pairs = present[faced].sum(axis=1)
        diagonal = (similarity[:, steps, faced] * present[faced]).sum(axis=2)
        scores = np.where(pairs >= -(-length // 2), diagonal / np.maximum(pairs, 1), -np.inf)
        best[:, number] = scores.max(axis=1)
        own = np.flatnonzero(true_piece == number)
        start = true_start[own, np.newaxis]
        offset_errors[own] = _farthest_tie(scores[own], np.abs(np.arange(len(faced)) - start))
        window_errors[own] = _farthest_tie(
            np.where(present, similarity[own], -np.inf),
            np.abs(np.arange(len(timeline)) - (start + steps)[..., np.newaxis]),
        )
    truth = best[np.arange(count), true_piece]
    return Alignment(np.sum(best >= truth[:, np.newaxis], axis=1), offset_errors, window_errors)


def align_excerpts(
    mel: np.ndarray,
    roll: np.ndarray,
    piece_ids: np.ndarray,
    clip_indices: np.ndarray,
    excerpts: np.ndarray,
) -> Alignment:
    """Identifies each audio excerpt's piece and its place in it (see the module).

    Args:
        mel: ``[clips, d]`` embeddings of the clips' audio.
        roll: ``[clips, d]`` embeddings of the same clips' rolls, row for row.
        piece_ids: Piece of every clip.
        clip_indices: Index of every clip within its piece.
        excerpts: :func:`excerpt_rows`.

    Returns:
        The rank of each excerpt's piece and its alignment errors.
    """
    mel, roll = _unit(mel), _unit(roll)
    length = excerpts.shape[1]
    pieces, piece_of = np.unique(piece_ids, return_inverse=True)
    timelines = [
        _timeline(roll[piece_of == number], clip_indices[piece_of == number], length)
        for number in range(len(pieces))
    ]
    true_piece, true_start = piece_of[excerpts[:, 0]], clip_indices[excerpts[:, 0]]
    blocks = [
        _align_block(
            mel[excerpts[block : block + EXCERPT_BLOCK]],
            true_piece[block : block + EXCERPT_BLOCK],
            true_start[block : block + EXCERPT_BLOCK],
            timelines,
        )
        for block in range(0, max(len(excerpts), 1), EXCERPT_BLOCK)
    ]
    return Alignment(
        *(
            np.concatenate([getattr(block, field.name) for block in blocks])
            for field in dataclasses.fields(Alignment)
        )
    )


def _value(value: float) -> dict[str, float]:
    """A metric in the main report's form (no spread: nothing here is trained)."""
    return {"mean": float(value), "std": 0.0}


def _score_row(
    name: str,
    mel: np.ndarray,
    roll: np.ndarray,
    labels: dict[str, np.ndarray],
    excerpts: np.ndarray,
    clip_seconds: float,
    scores: BootstrapScores,
) -> None:
    """Every metric of one row, on the test split and on the bootstrap draws."""
    metrics, draws = scores.metrics[name], scores.draws[name]
    piece_ids = labels["piece_id"]
    clip_weights = scores.weights(piece_ids)
    for direction, ranks in (
        ("audio_to_roll", gallery_ranks(mel, roll)),
        ("roll_to_audio", gallery_ranks(roll, mel)),
    ):
        for metric, value in retrieval_summary(ranks).items():
            metrics[f"{direction}_{metric}"] = _value(value)
        draws[f"{direction}_recall_at_1"] = drawn_share(ranks <= 1, clip_weights)
        scores.test_works[f"{direction}_recall_at_1"] = scores.count_works(piece_ids)
    if not len(excerpts):
        return
    found = align_excerpts(mel, roll, piece_ids, labels["clip_index"], excerpts)
    excerpt_weights = scores.weights(piece_ids[excerpts[:, 0]])
    metrics["piece_top1"] = _value(np.mean(found.piece_ranks == 1))
    metrics["piece_mrr"] = _value(np.mean(1.0 / found.piece_ranks))
    draws["piece_top1"] = drawn_share(found.piece_ranks == 1, excerpt_weights)
    excerpt_works = scores.count_works(piece_ids[excerpts[:, 0]])
    scores.test_works["piece_top1"] = excerpt_works
    for prefix, errors, weights in (
        ("alignment", found.offset_errors, excerpt_weights),
        ("window", found.window_errors.ravel(), scores.weights(piece_ids[excerpts].ravel())),
    ):
        metrics[f"{prefix}_median_error_s"] = _value(np.median(errors) * clip_seconds)
        metrics[f"{prefix}_exact"] = _value(np.mean(errors == 0))
        draws[f"{prefix}_median_error_s"] = weighted_median(errors, weights) * clip_seconds
        scores.test_works[f"{prefix}_median_error_s"] = excerpt_works


def _scored_rendering(
    rows: list[CrossModalRow],
    mels: dict[str, np.ndarray],
    rolls: dict[str, np.ndarray],
    labels: dict[str, np.ndarray],
    excerpts: np.ndarray,
    scores: BootstrapScores,
    clip_seconds: float,
    min_test_works: int,
) -> dict[str, Any]:
    """The metrics and comparisons of every row with one rendering's mel clips."""
    for row in rows:
        _score_row(
            row.name, mels[row.name], rolls[row.name], labels, excerpts, clip_seconds, scores
        )
    piece_ids = labels["piece_id"]
    significance = compare_rows(
        [row.name for row in rows], scores, min_test_works, TESTED_DIRECTIONS
    )
    return {
        "counts": {
            "test_clips": len(piece_ids),
            "test_pieces": len(np.unique(piece_ids)),
            "excerpts": len(excerpts),
            "excerpt_pieces": len(np.unique(piece_ids[excerpts[:, 0]])),
        },
        "test_works": scores.test_works,
        "metrics": scores.metrics,
        "significance": significance,
    }


def evaluate_crossmodal(
    dataset: PreparedDataset,
    rows: list[CrossModalRow],
    renderings: list[str] | tuple[str, ...] = (),
    excerpt_clips: int = EXCERPT_CLIPS,
    max_excerpts: int | None = None,
    bootstrap_rounds: int = 1000,
    min_test_works: int = MIN_TEST_WORKS,
) -> dict[str, Any]:
    """Scores every row across domains on the test split (see the module).

    Args:
        dataset: A prepared dataset.
        rows: The rows (joint models and baselines), names unique.
        renderings: Other renderings of the dataset whose mel clips are scored
            too (names); the reference rendering always is.
        excerpt_clips: Clips per audio excerpt.
        max_excerpts: At most this many excerpts, a seeded draw (all if None).
        bootstrap_rounds: Draws of the significance test.
        min_test_works: Metrics measured on fewer test works are not tested.

    Returns:
        ``{"data", "reference", "renderings", "rows", "clip_seconds",
        "excerpt_clips", "bootstrap_rounds", "results"}``; ``results`` holds per
        rendering (the reference first) the ``counts``, ``test_works``,
        ``metrics`` (row -> metric -> ``{"mean", "std"[, "se"]}``) and
        ``significance`` (metric -> comparison).

    Raises:
        tfembed.errors.DatasetError: The dataset lacks a rendering.
        EvaluationError: Two rows share a name, or the test split is empty.
    """
    names = [row.name for row in rows]
    if len(set(names)) < len(names):
        raise EvaluationError(f"cross-modal rows need distinct names; given {', '.join(names)}")
    for rendering in renderings:
        dataset.rendering_index(rendering)
    sides = {
        (row.name, domain): dataclasses.replace(getattr(row, domain), name=f"{row.name} [{domain}]")
        for row in rows
        for domain in DOMAINS
    }
    reference = dataset.renderings[0]
    test = _test_features(dataset, list(sides.values()), reference)
    labels = test.labels
    rolls = {name: test.features[sides[name, "roll"].name] for name in names}
    excerpts = excerpt_rows(labels["piece_id"], labels["clip_index"], excerpt_clips, max_excerpts)
    clip_seconds = dataset.grid.clip_frames / dataset.grid.frames_per_second
    works = manifest_works(dataset.manifest)
    results = {}
    for rendering in [reference, *renderings]:
        if rendering != reference:
            mel_sides = [sides[name, "mel"] for name in names]
            test = _test_features(dataset, mel_sides, rendering)
        mels = {name: test.features[sides[name, "mel"].name] for name in names}
        scores = BootstrapScores.empty(names, works, labels["piece_id"], bootstrap_rounds)
        results[rendering] = _scored_rendering(
            rows, mels, rolls, labels, excerpts, scores, clip_seconds, min_test_works
        )
    return {
        "data": str(dataset.root),
        "reference": reference,
        "renderings": [reference, *renderings],
        "rows": [
            {"name": row.name, "kind": row.kind, "mel": row.mel.name, "roll": row.roll.name}
            for row in rows
        ],
        "clip_seconds": clip_seconds,
        "excerpt_clips": excerpt_clips,
        "bootstrap_rounds": bootstrap_rounds,
        "identical_rolls": test_split_identical_rolls(dataset),
        "results": results,
    }


def _test_features(
    dataset: PreparedDataset, featurizers: list[Featurizer], rendering: str
) -> SplitFeatures:
    try:
        return featurize_split(dataset, TEST_SPLIT, featurizers, rendering=rendering)
    except ValueError as error:
        raise EvaluationError(str(error)) from error


def crossmodal_markdown(result: dict[str, Any]) -> str:
    """The tables of :func:`evaluate_crossmodal`'s result, a section per rendering."""
    seconds = result["excerpt_clips"] * result["clip_seconds"]
    lines = [
        "# tfembed cross-modal evaluation (audio <-> piano roll)",
        "",
        f"Data: `{result['data']}`, test split. Same-moment retrieval ranks each clip's "
        "counterpart among all test clips of the other domain (ties count against the query). "
        f"Excerpts: non-overlapping runs of {result['excerpt_clips']} consecutive clips "
        f"({seconds:g} s of audio); a piece scores the excerpt's best diagonal alignment with "
        "its rolls (mean cosine over the facing clips); alignment errors are in seconds, "
        "at the best offset in the right piece (excerpt) and at each clip's best roll clip "
        "(per window). Bold: the best row and every row not significantly worse "
        f"(paired bootstrap over test works, {result['bootstrap_rounds']} draws, Bonferroni).",
    ]
    identical = result.get("identical_rolls")
    if identical:
        lines += [
            "",
            f"{identical['clips_with_an_identical_roll']} of the {identical['clips']} test clips "
            "have a roll identical to another test clip's: no roll tower can tell them apart, "
            "so audio -> roll R@1 is at most "
            f"{identical['audio_to_roll_recall_at_1_bound']:.3f}.",
        ]
    for rendering, section in result["results"].items():
        report = {**section, "rows": result["rows"]}
        counts = section["counts"]
        which = " (the reference)" if rendering == result["reference"] else ""
        lines += [
            "",
            f"## Audio rendered with {rendering}{which}",
            "",
            f"{counts['test_clips']} test clips of {counts['test_pieces']} pieces; "
            f"{counts['excerpts']} excerpts from {counts['excerpt_pieces']} pieces.",
            "",
            *table(report, RETRIEVAL_COLUMNS),
            "",
            *table(report, EXCERPT_COLUMNS),
            "",
            "What the test supports:",
            "",
            *claims(report, tuple((metric, metric) for metric in TESTED_DIRECTIONS)),
        ]
    return "\n".join(lines) + "\n"


def joint_rows(models: list[str | os.PathLike], grid: FrameGrid) -> list[CrossModalRow]:
    """A row per joint export (folder or shipped name), named after its folder (or run).

    Exports in folders of one name (``RUN_A/export``, ``RUN_B/export``) are named by
    as many trailing folders as tell them apart (``RUN_A/export``).

    Raises:
        ConfigError: A model is an export of one tower.
        EvaluationError: Its frame grid differs from ``grid``.
    """
    names = distinct_tails([run_path(Path(str(model))) for model in models])
    rows = []
    for model, name in zip(models, names, strict=True):
        path = joint_export(model)
        towers = [saved_model_featurizer(path, grid, domain=domain) for domain in DOMAINS]
        rows.append(CrossModalRow(name, *towers))
    return rows


def write_crossmodal_report(
    models: list[str | os.PathLike],
    data: str | os.PathLike,
    out: str | os.PathLike,
    renderings: list[str] | tuple[str, ...] = (),
    baselines: bool = True,
    bootstrap_rounds: int = 1000,
    min_test_works: int = MIN_TEST_WORKS,
) -> str:
    """Scores joint models (and the cross-modal baselines) across domains; writes the report.

    Args:
        models: Joint exports (folders or shipped names).
        data: A prepared dataset.
        out: Folder for :data:`CROSSMODAL_JSON` and its table (``crossmodal.md``).
        renderings: Other renderings whose audio is scored too.
        baselines: Score :func:`crossmodal_baselines` too, with the first
            model's tower design.
        bootstrap_rounds: Draws of the significance test.
        min_test_works: Metrics measured on fewer test works are not tested.

    Returns:
        The tables, as written.

    Raises:
        ConfigError: A model is an export of one tower.
        tfembed.errors.DatasetError: The dataset lacks a rendering.
        EvaluationError: Nothing to score, or a model does not fit the dataset.
    """
    dataset = open_dataset(data)
    rows = joint_rows(models, dataset.grid)
    if baselines:
        design = rows[0].mel.metadata.get("train_config", {}) if rows else {}
        rows += crossmodal_baselines(dataset.grid, TowerDesign.recorded(design))
    if not rows:
        raise EvaluationError("--crossmodal needs a joint model or the baselines: none to score")
    result = evaluate_crossmodal(
        dataset,
        rows,
        renderings,
        bootstrap_rounds=bootstrap_rounds,
        min_test_works=min_test_works,
    )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomically(out / CROSSMODAL_JSON, result)
    tables = crossmodal_markdown(result)
    write_bytes_atomically(out / Path(CROSSMODAL_JSON).with_suffix(".md").name, [tables.encode()])
    return tables
