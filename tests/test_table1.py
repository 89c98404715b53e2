"""tools/reproduce_table1.py: the reading of the table and the reuse of an evaluation."""

from __future__ import annotations

import json
import os

from tool_scripts import load_tool


def _tool():
    return load_tool("reproduce_table1.py")


def test_agreement_names_baselines_among_the_best_but_judges_variants_only() -> None:
    tool = _tool()
    metrics = {
        name: {
            metric: {"mean": value}
            for (_, metric, _), value in zip(tool.COLUMNS, values, strict=True)
        }
        for name, values in tool.PAPER.items()
    }
    metrics["SYM_SYM"]["rank_am"] = {"mean": 1.0}  # ours: SYM_SYM best on rank AM
    significance = {
        "rank_am": {"winners": ["SYM_SYM", "hand-made (roll)"]},
        "composer_micro_f1": {"winners": ["hand-made (mel)"]},
    }

    lines = {line.split(":")[0]: line for line in tool._agreement(metrics, significance)}

    assert lines["- Rank@100 AM"].endswith(
        "-> disagrees: our best are SYM_SYM; among the best rows are baselines too "
        "(hand-made (roll))"
    )
    assert lines["- Composer microF"].endswith(
        "-> same order; among the best rows are baselines too (hand-made (mel))"
    )
    assert lines["- GM"].endswith("-> same order")


def test_an_evaluation_is_reused_only_for_the_same_exports_seeds_and_weights(tmp_path) -> None:
    tool = _tool()
    exports = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metadata.json").write_text("{}")
        exports.append(tmp_path / name)
    evaluation = tmp_path / "eval"
    evaluation.mkdir()
    rows = [{"exports": [{"saved_model": str(path)} for path in exports]}]
    report = {"seeds": 3, "rows": rows, "probe_protocol": tool.probe_protocol()}

    def write(report):
        (evaluation / "report.json").write_text(json.dumps(report))
        later = (evaluation / "report.json").stat().st_mtime + 10
        os.utime(evaluation / "report.json", (later, later))
        return later

    write({key: value for key, value in report.items() if key != "probe_protocol"})
    assert not tool._evaluation_is_current(evaluation, exports, 3)  # scored by older probes
    later = write(report)
    assert tool._evaluation_is_current(evaluation, exports, 3)
    assert not tool._evaluation_is_current(evaluation, exports, 5)  # other probe seeds
    assert not tool._evaluation_is_current(evaluation, exports[:1], 3)  # other exports
    os.utime(exports[1] / "metadata.json", (later + 10, later + 10))  # exported again since
    assert not tool._evaluation_is_current(evaluation, exports, 3)
    assert not tool._evaluation_is_current(tmp_path / "none", exports, 3)
