"""Each hand-made feature group probed alone, on real clips."""

from __future__ import annotations

from tfembed.evaluation.feature_subsets import feature_subsets, score_feature_subsets
from tfembed.evaluation.probes import probe_tasks
from tfembed.features.framegrid import DEFAULT_GRID
from tfembed.features.handmade import handmade_groups, handmade_names


def test_roll_subsets_are_the_histogram_each_statistic_and_all() -> None:
    subsets = feature_subsets(
        handmade_names("roll", DEFAULT_GRID), handmade_groups("roll", DEFAULT_GRID)
    )
    assert list(subsets["pitch class 0 .. pitch class 11"]) == list(range(12))
    assert list(subsets["onsets per second"]) == [16]
    assert len(subsets) == 1 + 8 + 1 and list(subsets["all"]) == list(range(20))


def test_onset_rate_alone_carries_note_density(tiny_dataset) -> None:
    scores, skipped = score_feature_subsets(tiny_dataset, "roll")
    density = {name: row["density_r2"] for name, row in scores.items()}
    # Note density is onsets per second of the clip's notes: that one roll
    # statistic explains it about as well as all twenty, and better than any
    # other one.
    assert density["onsets per second"] > 0.5
    assert density["onsets per second"] == max(v for k, v in density.items() if k != "all")
    # Every task with labels is scored (tempo is unknown where the tiny
    # dataset's scores state none, and is then skipped, as the evaluation does).
    labelled = [task for task in probe_tasks(4) if task.name not in skipped]
    assert {metric for task in labelled for metric in task.metrics} <= set(scores["all"])
    assert set(skipped) <= {"tempo"}
