"""The renderer-robustness evaluation on real renderings of corpus pieces."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tfembed.cli.evaluate import main as evaluate_main
from tfembed.dataset.manifest import open_dataset
from tfembed.evaluation.featurizers import (
    EvaluationError,
    handmade_featurizer,
    random_tower_featurizer,
)
from tfembed.evaluation.robustness import (
    ROBUSTNESS_JSON,
    STANDARDISED,
    TESTED_METRICS,
    evaluate_robustness,
    gallery_ranks,
    retrieval_summary,
    standardise,
    write_robustness_report,
)
from tfembed.export.registry import resolve_model


def test_gallery_ranks_count_ties_against_the_query() -> None:
    gallery = np.eye(4, dtype=np.float32)
    assert gallery_ranks(gallery, gallery).tolist() == [1, 1, 1, 1]
    queries = gallery.copy()
    queries[0] = [0.0, 1.0, 0.0, 0.0]  # clip 0's query looks exactly like clip 1
    queries[2] = [1.0, 0.0, 1.0, 0.0]  # as close to clip 0 as to its own clip
    assert gallery_ranks(queries, gallery).tolist() == [4, 1, 2, 1]
    summary = retrieval_summary(np.array([1, 1, 2, 4]))
    assert summary == {"recall_at_1": 0.5, "recall_at_5": 1.0, "mrr": 0.6875, "median_rank": 1.5}


def test_other_renderings_are_scored_against_the_reference(
    tiny_renderings: Path, tmp_path: Path
) -> None:
    dataset = open_dataset(tiny_renderings)
    table = write_robustness_report([], tiny_renderings, ["TimGM6mb"], tmp_path)
    result = json.loads((tmp_path / ROBUSTNESS_JSON).read_text())
    assert (tmp_path / "robustness.md").read_text() == table
    assert "| hand-made (mel) |" in table and "| random tower (mel) |" in table
    assert result["reference"] == "FluidR3_GM" and result["renderings"] == ["TimGM6mb"]
    count = result["test_clips"]
    assert count == dataset.clip_count("test")
    for row in result["rows"].values():
        same_clip = row["TimGM6mb"]["same_clip"]
        # Another piano is heard, but the same notes: far better than chance.
        assert same_clip["mrr"] > 5 * np.mean(1 / np.arange(1, count + 1))
        assert 1 <= same_clip["median_rank"] <= count
        assert 1 <= same_clip["rank_at_100_am"] <= min(100, count - 1)
        standardised = row["TimGM6mb"][STANDARDISED]
        assert set(standardised) == {"same_clip", "neighbour_rank_at_100_am", "probes"}
        assert standardised["same_clip"]["mrr"] > 5 * np.mean(1 / np.arange(1, count + 1))
        for scores in (
            row["FluidR3_GM"],
            row["TimGM6mb"],
            row["FluidR3_GM"][STANDARDISED],
            standardised,
        ):
            assert 1 <= scores["neighbour_rank_at_100_am"] <= min(100, count - 1)
            assert set(scores["probes"]) == {"composer", "key"}
            assert all(0 <= value <= 1 for value in scores["probes"].values())
    assert "each rendering standardised by its own train clips" in table
    assert set(result["significance"]) == {"TimGM6mb"}


def test_rows_are_compared_on_each_tested_metric(tiny_renderings: Path) -> None:
    dataset = open_dataset(tiny_renderings)
    rows = [handmade_featurizer("mel", dataset.grid), random_tower_featurizer("mel", dataset.grid)]
    # The tiny test split has too few works to be tested by default.
    result = evaluate_robustness(
        dataset, ["TimGM6mb"], rows, bootstrap_rounds=200, min_test_works=1
    )
    tested = result["significance"]["TimGM6mb"]
    assert set(tested) == {
        f"{prefix}{metric}" for prefix in ("", f"{STANDARDISED}_") for metric in TESTED_METRICS
    }
    for metric, comparison in tested.items():
        values = {
            name: retrieval_or_probe(row["TimGM6mb"], metric)
            for name, row in result["rows"].items()
        }
        assert comparison["best"] == max(values, key=values.get)
        assert comparison["best"] in comparison["winners"]


def retrieval_or_probe(scores: dict, metric: str) -> float:
    """A tested metric's value in a rendering's scores."""
    if metric.startswith(f"{STANDARDISED}_"):
        scores, metric = scores[STANDARDISED], metric[len(STANDARDISED) + 1 :]
    if metric == "same_clip_recall_at_1":
        return scores["same_clip"]["recall_at_1"]
    return scores["probes"][metric.removesuffix("_micro_f1")]


def test_an_unknown_rendering_stops_tfembed_eval_before_any_work(
    tiny_renderings: Path, tmp_path: Path, capsys
) -> None:
    args = ["--saved_model", "mel_mel", "--data", str(tiny_renderings), "--out", str(tmp_path)]
    assert evaluate_main([*args, "--renderings", "OPL-3_FM_128M"]) == 1
    error = capsys.readouterr().err.strip()
    assert "no rendering 'OPL-3_FM_128M'" in error and "FluidR3_GM, TimGM6mb" in error
    assert not list(tmp_path.iterdir())


def test_standardising_each_rendering_cancels_a_shift_that_comes_with_it() -> None:
    rng = np.random.default_rng(0)
    gallery = rng.normal(size=(50, 8))
    queries = 3.0 * gallery + rng.normal(size=8)  # another renderer: scaled and shifted
    gallery_train, queries_train = gallery[:30], queries[:30]
    assert gallery_ranks(queries, gallery).mean() > 1
    assert np.allclose(
        standardise(queries, queries_train), standardise(gallery, gallery_train), atol=1e-9
    )
    shifted = gallery_ranks(
        standardise(queries, queries_train), standardise(gallery, gallery_train)
    )
    assert shifted.tolist() == [1] * 50


def test_rows_are_named_after_their_runs_and_must_differ(
    tiny_renderings: Path, tmp_path: Path
) -> None:
    shipped = Path(resolve_model("mel_mel"))
    for run in ("first/run_a", "first/run_b", "second/run_a"):
        shutil.copytree(shipped, tmp_path / run / "saved_model")
    runs = [str(tmp_path / run / "saved_model") for run in ("first/run_a", "first/run_b")]
    table = write_robustness_report(runs, tiny_renderings, ["TimGM6mb"], tmp_path / "out", False)
    result = json.loads((tmp_path / "out" / ROBUSTNESS_JSON).read_text())
    assert list(result["rows"]) == ["run_a", "run_b"]
    assert "| run_a |" in table
    same_name = [runs[0], str(tmp_path / "second/run_a/saved_model")]
    with pytest.raises(EvaluationError, match="name the models' folders apart: run_a, run_a"):
        write_robustness_report(same_name, tiny_renderings, ["TimGM6mb"], tmp_path / "two")
    assert not (tmp_path / "two").exists()
