"""report.md: the paper's Table 1 layout, winners in bold, baselines underneath."""

from __future__ import annotations

import os
from typing import Any

from tfembed.atomic import write_bytes_atomically
from tfembed.models.ranking import RANK_CANDIDATES

METRIC_DIRECTIONS = {
    "rank_am": False,
    "rank_gm": False,
    "composer_micro_f1": True,
    "composer_macro_f1": True,
    "key_micro_f1": True,
    "key_macro_f1": True,
    "tempo_within_8pct": True,
    "tempo_within_4pct": True,
    "density_mae": False,
    "density_r2": True,
    "mrr": True,
    "recall_at_1": True,
    "recall_at_5": True,
    "recall_at_10": True,
}
"""Every metric of the report, and whether higher is better."""

TABLE1_COLUMNS = (
    ("Rank@100 AM", "rank_am"),
    ("GM", "rank_gm"),
    ("Composer microF", "composer_micro_f1"),
    ("macroF", "composer_macro_f1"),
    ("Key microF", "key_micro_f1"),
    ("macroF", "key_macro_f1"),
    ("Tempo 8% acc", "tempo_within_8pct"),
    ("4% acc", "tempo_within_4pct"),
    ("Density MAE", "density_mae"),
    ("R^2", "density_r2"),
)
RANKING_COLUMNS = (
    ("MRR", "mrr"),
    ("R@1", "recall_at_1"),
    ("R@5", "recall_at_5"),
    ("R@10", "recall_at_10"),
)


def format_value(metric: str, value: dict[str, float] | None, bold: bool = False) -> str:
    """``mean ± std`` (spread over probe seeds), bold for winners; ``n/a`` when missing."""
    if value is None:
        return "n/a"
    digits = 2 if metric.startswith("rank_") or metric == "density_mae" else 3
    text = f"{value['mean']:.{digits}f}"
    if value["std"] > 0:
        text += f" ± {value['std']:.{digits}f}"
    return f"**{text}**" if bold else text


def _table(report: dict[str, Any], columns: tuple[tuple[str, str], ...]) -> list[str]:
    lines = [
        "| | " + " | ".join(header for header, _ in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    kinds = [row["kind"] for row in report["rows"]]
    for position, row in enumerate(report["rows"]):
        if position and kinds[position - 1] == "model" and row["kind"] != "model":
            lines.append("| *baselines* |" + " |" * len(columns))
        cells = []
        for _, metric in columns:
            winners = report["significance"].get(metric, {}).get("winners", [])
            value = report["metrics"][row["name"]].get(metric)
            cells.append(format_value(metric, value, row["name"] in winners))
        lines.append(f"| {row['name']} | " + " | ".join(cells) + " |")
    return lines


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown."""
    counts = report["counts"]
    lines = [
        "# tfembed evaluation",
        "",
        f"Data: `{report['data']}` (test split: {counts['rank']['test_clips']} clips, "
        f"{counts['rank']['queries']} rank@{counts['rank']['candidates']} queries). Probe "
        f"metrics are the mean ± spread (standard deviation) over {report['seeds']} probe "
        "seeds.",
        "",
    ]
    if counts["rank"]["candidates"] != RANK_CANDIDATES:
        lines += [
            f"The test split is too small for rank@100: the Rank column is rank@"
            f"{counts['rank']['candidates']} (chance {(counts['rank']['candidates'] + 1) / 2}).",
            "",
        ]
    if report["significance"]:
        alpha = next(iter(report["significance"].values()))["alpha"]
        lines += [
            f"Bold: best model, and every model not significantly worse than it "
            f"(paired bootstrap over test pieces, {report['bootstrap_rounds']} draws, "
            f"Bonferroni-corrected p < {alpha:.4f}). Baselines are not part of the test.",
            "",
        ]
    lines += _table(report, TABLE1_COLUMNS)
    lines += ["", "Ranking, more detail:", "", *_table(report, RANKING_COLUMNS)]
    lines += ["", "Clips used and left out (unknown label) per task and split:", ""]
    for task, splits in counts.items():
        if task == "rank":
            continue
        lines.append(
            f"- {task}: "
            + ", ".join(
                f"{split} {n['used']} used / {n['left_out']} left out"
                for split, n in splits.items()
            )
        )
    untested = sorted(
        metric
        for metric, pieces in report["test_pieces"].items()
        if report["significance"] and metric not in report["significance"]
    )
    if untested:
        lines.append(
            "- not tested for significance (test clips from too few pieces: "
            + ", ".join(f"{metric} {report['test_pieces'][metric]}" for metric in untested)
            + ")"
        )
    for task, reason in report["skipped_tasks"].items():
        lines.append(f"- {task} skipped: {reason}")
    if report["against_random_tower"]:
        lines += ["", "Against the same tower with random weights (main metric per task):", ""]
        for name, check in report["against_random_tower"].items():
            better = [metric for metric, won in check["better"].items() if won]
            worse = [metric for metric, won in check["better"].items() if not won]
            lines.append(
                f"- {name} vs {check['baseline']}: better on {', '.join(better) or 'nothing'}"
                + (f"; not better on {', '.join(worse)}" if worse else "")
            )
    if report["plots"]:
        lines += [""] + [f"![{plot}]({plot})" for plot in report["plots"]]
    return "\n".join(lines) + "\n"


def write_markdown(report: dict[str, Any], path: str | os.PathLike) -> None:
    """Writes :func:`markdown` atomically."""
    write_bytes_atomically(path, [markdown(report).encode()])
