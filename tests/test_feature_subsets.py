"""tools/experiments/feature_subsets.py: each hand-made group probed alone, on real clips."""

from __future__ import annotations

import json

from tool_scripts import load_tool

from tfembed.evaluation.probes import probe_tasks


def _tool():
    return load_tool("experiments/feature_subsets.py")


def test_roll_subsets_are_the_histogram_each_statistic_and_all() -> None:
    from tfembed.features.framegrid import DEFAULT_GRID
    from tfembed.features.handmade import handmade_groups, handmade_names

    subsets = _tool().feature_subsets(
        handmade_names("roll", DEFAULT_GRID), handmade_groups("roll", DEFAULT_GRID)
    )
    assert list(subsets["pitch class 0 .. pitch class 11"]) == list(range(12))
    assert list(subsets["onsets per second"]) == [16]
    assert len(subsets) == 1 + 8 + 1 and list(subsets["all"]) == list(range(20))


def test_onset_rate_alone_carries_note_density(tiny_dataset, tmp_path) -> None:
    out = tmp_path / "subsets.json"
    _tool().main(["--data", str(tiny_dataset), "--domain", "roll", "--out", str(out)])
    scores = json.loads(out.read_text())["scores"]
    density = {name: row["density_r2"] for name, row in scores.items()}
    # Note density is onsets per second of the clip's notes: that one roll
    # statistic explains it about as well as all twenty, and better than any
    # other one.
    assert density["onsets per second"] > 0.5
    assert density["onsets per second"] == max(v for k, v in density.items() if k != "all")
    # Every task with labels is scored (tempo is unknown where the tiny
    # dataset's scores state none, and is then skipped, as the evaluation does).
    labelled = [task for task in probe_tasks(4) if task.name != "tempo"]
    assert {metric for task in labelled for metric in task.metrics} <= set(scores["all"])
