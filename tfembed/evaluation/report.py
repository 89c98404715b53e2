"""report.md: the paper's Table 1 layout, winners in bold, baselines underneath."""

from __future__ import annotations

import os
from typing import Any

from tfembed.models.ranking import RANK_CANDIDATES
from tfembed.utils.atomic import write_bytes_atomically

PROBE_DIRECTIONS = {
    "composer_micro_f1": True,
    "composer_macro_f1": True,
    "composer_piece_micro_f1": True,
    "composer_piece_macro_f1": True,
    "key_micro_f1": True,
    "key_macro_f1": True,
    "tempo_within_8pct": True,
    "tempo_within_4pct": True,
    "density_mae": False,
    "density_r2": True,
}
"""Probe metrics and whether higher is better (``composer_piece_*``: one
prediction per test piece, the mean of its clips' probabilities)."""

LINEAR_PREFIX = "linear_"
"""Prefix of the linear probe's metrics (the MLP head's have none)."""

METRIC_DIRECTIONS = {
    "rank_am": False,
    "rank_gm": False,
    **PROBE_DIRECTIONS,
    **{LINEAR_PREFIX + metric: higher for metric, higher in PROBE_DIRECTIONS.items()},
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
LINEAR_COLUMNS = (
    ("Composer microF", "linear_composer_micro_f1"),
    ("macroF", "linear_composer_macro_f1"),
    ("per piece microF", "linear_composer_piece_micro_f1"),
    ("Key microF", "linear_key_micro_f1"),
    ("macroF", "linear_key_macro_f1"),
    ("Tempo 8% acc", "linear_tempo_within_8pct"),
    ("4% acc", "linear_tempo_within_4pct"),
    ("Density MAE", "linear_density_mae"),
    ("R^2", "linear_density_r2"),
)
DETAIL_COLUMNS = (
    ("Composer per piece microF (MLP)", "composer_piece_micro_f1"),
    ("macroF", "composer_piece_macro_f1"),
    ("MRR", "mrr"),
    ("R@1", "recall_at_1"),
    ("R@5", "recall_at_5"),
    ("R@10", "recall_at_10"),
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


def table(report: dict[str, Any], columns: tuple[tuple[str, str], ...]) -> list[str]:
    """Markdown rows of ``columns`` for every row of the report, winners in bold."""
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


def _standard_errors(report: dict[str, Any], columns: tuple[tuple[str, str], ...]) -> list[str]:
    lines = [
        "| | " + " | ".join(header for header, _ in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for row in report["rows"]:
        cells = []
        for _, metric in columns:
            value = report["metrics"][row["name"]].get(metric) or {}
            cells.append(f"{value['se']:.3f}" if "se" in value else "untested")
        lines.append(f"| {row['name']} | " + " | ".join(cells) + " |")
    return lines


def claims(report: dict[str, Any], columns: tuple[tuple[str, str], ...]) -> list[str]:
    """What the significance test supports, metric by metric, in plain words."""
    kinds = {row["name"]: row["kind"] for row in report["rows"]}
    lines = []
    for _, metric in columns:
        comparison = report["significance"].get(metric)
        if comparison is None:
            works = report["test_works"].get(metric, 0)
            lines.append(f"- {metric}: untested (test clips from {works} works).")
            continue
        best, winners = comparison["best"], comparison["winners"]
        tied = [name for name in winners if name != best]
        text = f"- {metric}: best {best}"
        text += (
            f", tied with {', '.join(tied)}" if tied else ", significantly ahead of every other row"
        )
        baselines = [name for name in winners if kinds.get(name) != "model"]
        if kinds.get(best) != "model":
            text += f". A baseline is best ({best})"
        elif baselines:
            text += (
                f". No model is significantly better than the baseline(s) {', '.join(baselines)}"
            )
        lines.append(text + ".")
    return lines


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown."""
    counts = report["counts"]
    several = any(len(row.get("exports", ())) > 1 for row in report["rows"])
    lines = [
        "# tfembed evaluation",
        "",
        f"Data: `{report['data']}` (test split: {counts['rank']['test_clips']} clips of "
        f"{report['test_pieces']} pieces, {counts['rank']['queries']} rank@"
        f"{counts['rank']['candidates']} queries). Probe metrics are the mean ± spread "
        f"(standard deviation) over {report['seeds']} MLP seeds"
        + (" and the training seeds of each variant" if several else "")
        + "; the linear probe is deterministic.",
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
            "Bold: the best row, models and baselines together, and every row not "
            f"significantly worse than it (paired bootstrap over test works, "
            f"{report['bootstrap_rounds']} draws"
            + (", exports of a variant drawn with replacement" if several else "")
            + f"; Bonferroni-corrected p < {alpha:.4f}).",
            "",
        ]
    lines += ["MLP head (the paper's probe):", "", *table(report, TABLE1_COLUMNS)]
    lines += ["", "Linear probe:", "", *table(report, LINEAR_COLUMNS)]
    lines += ["", "More detail:", "", *table(report, DETAIL_COLUMNS)]
    lines += [
        "",
        "Standard errors (bootstrap over test works, training seeds included):",
        "",
        *_standard_errors(report, TABLE1_COLUMNS),
    ]
    lines += ["", "What the test supports:", ""]
    lines += claims(report, TABLE1_COLUMNS + LINEAR_COLUMNS[:3] + LINEAR_COLUMNS[3::2])
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
    for task, reason in report["skipped_tasks"].items():
        lines.append(f"- {task} skipped: {reason}")
    against = (
        ("against_random_tower", "the same tower with random weights"),
        ("against_hand_made", "the hand-made features of the same domain"),
    )
    for key, what in against:
        if not report.get(key):
            continue
        lines += [
            "",
            f"Against {what} (main metric per task, MLP head and linear probe; "
            "one-sided paired-bootstrap p, uncorrected):",
            "",
        ]
        for name, check in report[key].items():
            outcomes = [
                f"{metric} {'better' if won else 'not better'} (p {check['p_values'][metric]:.3f})"
                for metric, won in check["better"].items()
            ]
            lines.append(f"- {name} vs {check['baseline']}: " + ", ".join(outcomes))
    if report.get("probe_choices"):
        lines += ["", "Probe configurations chosen on validation (MLP; linear C or alpha):", ""]
        for task, rows in report["probe_choices"].items():
            lines.append(
                f"- {task}: "
                + "; ".join(f"{name}: {c['mlp']}, {c['linear']}" for name, c in rows.items())
            )
    if report["plots"]:
        lines += [""] + [f"![{plot}]({plot})" for plot in report["plots"]]
    return "\n".join(lines) + "\n"


def write_markdown(report: dict[str, Any], path: str | os.PathLike) -> None:
    """Writes :func:`markdown` atomically."""
    write_bytes_atomically(path, [markdown(report).encode()])
