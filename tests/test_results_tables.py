"""Results are generated, not typed: the committed tables equal what the generator writes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tfembed.export.registry import model_files
from tfembed.results import cards, generate
from tfembed.results.cards import _checkpoint_text
from tfembed.utils.machine import this_machine

REPO = Path(__file__).resolve().parents[1]


def test_every_committed_table_and_card_is_what_the_generator_writes() -> None:
    stale = [str(path.relative_to(REPO)) for path in generate.stale(REPO)]
    assert not stale, f"run python tools/release/results_tables.py; stale: {stale}"


def _copy_of_the_repository(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "docs").mkdir(parents=True)
    shutil.copy(REPO / "README.md", root / "README.md")
    shutil.copy(REPO / "docs" / "benchmarks.md", root / "docs" / "benchmarks.md")
    shutil.copytree(REPO / "docs" / "results", root / "docs" / "results")
    shutil.copytree(REPO / "saved_models", root / "saved_models")
    return root


def test_a_changed_figure_in_the_json_makes_its_tables_stale_until_written(tmp_path) -> None:
    root = _copy_of_the_repository(tmp_path)
    path = root / "docs" / "results" / "shipped_models.json"
    summary = json.loads(path.read_text())
    summary["report"]["metrics"]["MEL_MEL"]["rank_am"]["mean"] += 1.0
    path.write_text(json.dumps(summary))
    stale = {p.relative_to(root).as_posix() for p in generate.stale(root)}
    assert {"README.md", "docs/results.md", "saved_models/mel_mel/MODEL_CARD.md"} <= stale
    generate.write(root)
    assert generate.stale(root) == []
    manifest = json.loads((root / "saved_models" / "MANIFEST.json").read_text())
    assert manifest["models"]["mel_mel"]["files"] == model_files(root / "saved_models" / "mel_mel")
    assert (
        manifest["models"]["mel_mel"]["test"]["rank_am"]
        == summary["report"]["metrics"]["MEL_MEL"]["rank_am"]
    )


def test_a_benchmark_json_gets_its_own_section(tmp_path) -> None:
    root = _copy_of_the_repository(tmp_path)
    result = {
        "title": "Training throughput",
        "date": "2026-12-04",
        "commit": "0" * 40,
        "command": "python tools/benchmarks/bench_train.py --data DATA",
        "machine": {"cpu_model": "Example CPU", "cores": 2, "flags": ["avx2"]},
        "rows": [{"variant": "MEL_MEL", "pairs/s": 80.5, "x baseline": 1.25}],
    }
    (root / "docs" / "results" / "bench_train.json").write_text(json.dumps(result))
    generate.write(root)
    text = (root / "docs" / "benchmarks.md").read_text()
    assert "### Training throughput" in text
    assert "Example CPU, 2 cores, flags avx2" in text
    assert "| MEL_MEL | 80.5 | 1.25 |" in text


def test_the_machine_names_the_cpu_and_its_vector_flags(tmp_path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: Example EPYC\nflags\t\t: fpu sse2 avx2 avx512f\n\n"
        "processor\t: 1\nmodel name\t: Example EPYC\nflags\t\t: fpu sse2 avx2 avx512f\n"
    )
    found = this_machine(cpuinfo).to_dict()
    assert found["cpu_model"] == "Example EPYC"
    assert found["flags"] == ["avx2", "avx512f"]


def test_a_model_with_its_own_results_takes_its_card_and_manifest_figures_from_them(
    tmp_path,
) -> None:
    root = _copy_of_the_repository(tmp_path)
    results = root / "docs" / "results"
    training = json.loads((results / "shipped_training.json").read_text())
    training["renderings"] = ["FluidR3_GM", "TimGM6mb", "OPL-3_FM_128M"]
    evaluation = json.loads((results / "shipped_models.json").read_text())
    evaluation["title"] = "The model on its own data"
    evaluation["report"]["metrics"]["MEL_SYM"]["rank_am"]["mean"] = 4.25
    robustness = json.loads((results / "model_joint.json").read_text())["robustness"]
    robustness["title"] = "The model on other renderings"
    own = {"training": training, "evaluation": evaluation, "robustness": robustness}
    (results / generate.OWN_RESULTS.format(name="mel_sym")).write_text(json.dumps(own))
    mel_mel_card = (root / "saved_models" / "mel_mel" / "MODEL_CARD.md").read_text()

    generate.write(root)

    card = (root / "saved_models" / "mel_sym" / "MODEL_CARD.md").read_text()
    assert "3 renderings by General MIDI soundfonts (FluidR3_GM, TimGM6mb, OPL-3_FM_128M;" in card
    assert "### The model on its own data" in card
    assert "## The model on other renderings" in card
    assert "### OPL-3_FM_128M -> FluidR3_GM: embeddings as they are" in card
    assert (root / "saved_models" / "mel_mel" / "MODEL_CARD.md").read_text() == mel_mel_card
    manifest = json.loads((root / "saved_models" / "MANIFEST.json").read_text())
    assert manifest["models"]["mel_sym"]["test"]["rank_am"]["mean"] == 4.25
    assert manifest["models"]["mel_mel"]["test"]["rank_am"]["mean"] != 4.25
    assert "## The model on its own data" in (root / "docs" / "results.md").read_text()
    assert generate.stale(root) == []


def test_a_joint_models_short_table_marks_the_renderings_it_never_heard() -> None:
    def metrics(recall: float) -> dict[str, dict[str, float]]:
        return {
            metric: {"mean": value, "std": 0.0}
            for metric, value in (
                ("audio_to_roll_recall_at_1", recall),
                ("roll_to_audio_recall_at_1", recall / 2),
                ("piece_top1", 0.99),
                ("alignment_median_error_s", 0.0),
            )
        }

    crossmodal = {
        "result": {
            "renderings": ["A", "B"],
            "rows": [
                {"name": "joint", "kind": "model"},
                {"name": "random towers", "kind": "random tower"},
            ],
            "results": {
                rendering: {"metrics": {"joint": metrics(recall), "random towers": metrics(base)}}
                for rendering, recall, base in (("A", 0.8, 0.002), ("B", 0.6, 0.004))
            },
        }
    }
    text = cards.crossmodal_short_table(crossmodal, "joint", ["A"])
    assert "| `A` (trained on) | 0.800 | 0.400 | 0.990 | 0.000 |" in text
    assert "| `B` (never heard in training) | 0.600 | 0.300 | 0.990 | 0.000 |" in text
    assert "reach at most 0.004 audio -> MIDI R@1" in text


def test_a_card_names_the_checkpoints_an_averaged_export_holds() -> None:
    averaged = {"checkpoint": "average", "checkpoint_step": 4000}
    averaged["averaged_checkpoints"] = ["ckpt-3600", "ckpt-3800", "ckpt-4000"]
    assert _checkpoint_text(averaged) == (
        "the mean of the checkpoints `ckpt-3600`, `ckpt-3800`, `ckpt-4000`"
    )
    best = {"checkpoint": "best", "checkpoint_step": 2800}
    assert _checkpoint_text(best) == "checkpoint `best` at step 2800"
