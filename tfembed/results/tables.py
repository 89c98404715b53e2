"""Markdown written from the committed JSON.

Evaluation summaries, transcribed tables of earlier runs, and benchmark results.
"""

from __future__ import annotations

from typing import Any

from tfembed.evaluation.report import format_value, markdown, table
from tfembed.utils.machine import describe_machine

SHORT_COLUMNS = (
    ("Rank@100 AM", "rank_am"),
    ("GM", "rank_gm"),
    ("Composer microF", "composer_micro_f1"),
    ("Key microF", "key_micro_f1"),
    ("Tempo 8% acc", "tempo_within_8pct"),
    ("Density MAE", "density_mae"),
    ("R^2", "density_r2"),
)
"""The columns of the short table: rank@100 and each task's main metrics (MLP head)."""


def provenance_text(origin: dict[str, Any], verb: str = "Measured") -> str:
    """One sentence: date, commit, command and machine of a measurement (or a build)."""
    commit = origin.get("commit") or "not recorded"
    if len(commit) == 40:
        commit = f"`{commit[:10]}`"
    return (
        f"{verb} {origin['date']}, commit {commit}, on {describe_machine(origin['machine'])}: "
        f"`{origin['command']}`."
    )


def short_table(summary: dict[str, Any]) -> str:
    """Rank@100 and the main metric of each probe task, every row, winners in bold."""
    return "\n".join(table(summary["report"], SHORT_COLUMNS)) + "\n"


HEADLINE_NAMES = {
    "rank_am": "rank@100 AM",
    "rank_gm": "rank@100 GM",
    "composer_micro_f1": "composer micro-F1",
    "key_micro_f1": "key micro-F1",
    "tempo_within_8pct": "tempo within 8%",
    "density_mae": "density MAE",
    "density_r2": "density R²",
}
"""The short table's metrics, named for a sentence."""


def headline(summary: dict[str, Any], row: str) -> str:
    """One row's short-table figures as a sentence (for a model card's summary line)."""
    metrics = summary["report"]["metrics"][row]
    return ", ".join(
        f"{name} {format_value(metric, metrics.get(metric))}"
        for metric, name in HEADLINE_NAMES.items()
    )


def evaluation_section(summary: dict[str, Any], heading: str = "##") -> str:
    """A summary as a document section: title, data, provenance, then the full report."""
    body = markdown(summary["report"]).splitlines()[2:]
    return (
        "\n".join(
            [
                f"{heading} {summary['title']}",
                "",
                provenance_text(summary["provenance"]),
                "",
                *body,
            ]
        ).rstrip()
        + "\n"
    )


def transcribed_section(record: dict[str, Any], heading: str = "##") -> str:
    """A table of an earlier run, kept as JSON: its title, provenance, setting and rows."""
    columns = record["columns"]
    lines = [
        f"{heading} {record['title']}",
        "",
        provenance_text(record["provenance"]),
        "",
        record["setting"],
        "",
        "| | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
        *(f"| {row['name']} | " + " | ".join(row["cells"]) + " |" for row in record["rows"]),
    ]
    return "\n".join(lines) + "\n"


def benchmark_section(name: str, result: dict[str, Any], heading: str = "##") -> str:
    """A benchmark's JSON as a section: provenance, then its ``rows`` as a table.

    Benchmarks write ``date``, ``commit``, ``command``, ``machine`` and ``rows`` (a
    list of flat dicts, one per measured configuration); other scalar fields are
    listed under the table.
    """
    lines = [f"{heading} {result.get('title', name)}", ""]
    if {"date", "commit", "command", "machine"} <= result.keys():
        lines += [provenance_text(result), ""]
    rows = result.get("rows") or []
    if rows:
        columns = list(dict.fromkeys(key for row in rows for key in row))
        lines += [
            "| " + " | ".join(columns) + " |",
            "|" + "---|" * len(columns),
            *("| " + " | ".join(_cell(row.get(key)) for key in columns) + " |" for row in rows),
            "",
        ]
    skipped = {"title", "date", "commit", "command", "machine", "rows"}
    lines += [
        f"- {key}: {_cell(value)}"
        for key, value in result.items()
        if key not in skipped and isinstance(value, (int, float, str, dict))
    ]
    return "\n".join(lines).rstrip() + "\n"


def _cell(value: Any) -> str:
    if isinstance(value, dict) and {"median", "min", "max"} <= value.keys():
        return f"{_cell(value['median'])} ({_cell(value['min'])}-{_cell(value['max'])})"
    if isinstance(value, dict):
        return "; ".join(f"{key} {_cell(item)}" for key, item in value.items()) or "none"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.1f}"
    return "" if value is None else str(value)
