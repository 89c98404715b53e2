"""Table 1 beside the paper's: the reading of the table and the reuse of an evaluation."""

from __future__ import annotations

import json
import os

from tfembed.evaluation.probes import probe_protocol
from tfembed.evaluation.table1 import (
    COLUMNS,
    PAPER,
    VARIANTS,
    agreement,
    evaluation_is_current,
    table1_markdown,
)
from tfembed.models.siamese import PAPER_VARIANTS
from tfembed.models.siamese import VARIANTS as MODEL_VARIANTS


def test_the_papers_rows_are_the_four_variants() -> None:
    assert PAPER_VARIANTS == VARIANTS
    assert set(PAPER_VARIANTS) < set(MODEL_VARIANTS)
    assert all(len(row) == len(COLUMNS) for row in PAPER.values())


def test_agreement_names_baselines_among_the_best_but_judges_variants_only() -> None:
    metrics = {
        name: {
            metric: {"mean": value} for (_, metric, _), value in zip(COLUMNS, values, strict=True)
        }
        for name, values in PAPER.items()
    }
    metrics["SYM_SYM"]["rank_am"] = {"mean": 1.0}  # ours: SYM_SYM best on rank AM
    significance = {
        "rank_am": {"winners": ["SYM_SYM", "hand-made (roll)"]},
        "composer_micro_f1": {"winners": ["hand-made (mel)"]},
    }

    lines = {line.split(":")[0]: line for line in agreement(metrics, significance)}

    assert lines["- Rank@100 AM"].endswith(
        "-> disagrees: our best are SYM_SYM; among the best rows are baselines too "
        "(hand-made (roll))"
    )
    assert lines["- Composer microF"].endswith(
        "-> same order; among the best rows are baselines too (hand-made (mel))"
    )
    assert lines["- GM"].endswith("-> same order")


def test_an_evaluation_is_reused_only_for_the_same_exports_seeds_and_weights(tmp_path) -> None:
    exports = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metadata.json").write_text("{}")
        exports.append(tmp_path / name)
    evaluation = tmp_path / "eval"
    evaluation.mkdir()
    rows = [{"exports": [{"saved_model": str(path)} for path in exports]}]
    report = {"seeds": 3, "rows": rows, "probe_protocol": probe_protocol()}

    def write(report):
        (evaluation / "report.json").write_text(json.dumps(report))
        later = (evaluation / "report.json").stat().st_mtime + 10
        os.utime(evaluation / "report.json", (later, later))
        return later

    write({key: value for key, value in report.items() if key != "probe_protocol"})
    assert not evaluation_is_current(evaluation, exports, 3)  # scored by older probes
    later = write(report)
    assert evaluation_is_current(evaluation, exports, 3)
    assert not evaluation_is_current(evaluation, exports, 5)  # other probe seeds
    assert not evaluation_is_current(evaluation, exports[:1], 3)  # other exports
    os.utime(exports[1] / "metadata.json", (later + 10, later + 10))  # exported again since
    assert not evaluation_is_current(evaluation, exports, 3)
    assert not evaluation_is_current(tmp_path / "none", exports, 3)


def test_the_table_puts_ours_bold_where_best_then_the_paper_then_the_baselines() -> None:
    rows = [*VARIANTS, "hand-made (mel)"]
    metrics = {
        name: {metric: {"mean": 0.5, "std": 0.0} for _, metric, _ in COLUMNS} for name in rows
    }
    metrics["MEL_MEL"]["rank_am"] = {"mean": 3.456, "std": 0.1}
    report = {
        "metrics": metrics,
        "significance": {"rank_am": {"winners": ["MEL_MEL"]}},
        "seeds": 3,
        "rows": [{"name": name, "kind": "model"} for name in VARIANTS]
        + [{"name": "hand-made (mel)", "kind": "hand-made"}],
    }

    lines = table1_markdown(report, {"train": 120.0}, "python tools/reproduce_table1.py").split(
        "\n"
    )

    table = [line for line in lines if line.startswith("| ")]
    assert [line.split(" | ")[0] for line in table[1:]] == [
        *(f"| {name} (ours)" for name in VARIANTS),
        *(f"| {name} (paper)" for name in VARIANTS),
        "| hand-made (mel)",
    ]
    assert table[1].startswith("| MEL_MEL (ours) | **3.46 ± 0.10** | 0.50 | 0.500 |")
    assert table[5] == "| MEL_MEL (paper) | " + " | ".join(map(str, PAPER["MEL_MEL"])) + " |"
    assert "- train: 2.0 min" in lines
