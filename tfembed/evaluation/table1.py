"""Table 1 of Gururani et al. (ICML 2019 workshop) beside ours, read from an evaluation report.

``tools/reproduce_table1.py`` trains, exports and evaluates the four variants, then
writes the table with :func:`table1_markdown`; :func:`evaluation_is_current` says
whether an earlier evaluation can be reused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tfembed.evaluation.evaluate import REPORT_JSON
from tfembed.evaluation.probes import probe_protocol
from tfembed.evaluation.report import METRIC_DIRECTIONS, TABLE1_COLUMNS, format_value
from tfembed.export.format import METADATA_NAME

PAPER = {
    # Gururani, Lerch and Bretan, "A Comparison of Music Input Domains for
    # Self-Supervised Feature Learning", ICML 2019 ML4MD workshop, Table 1.
    "MEL_MEL": (7.966, 3.77, 0.330, 0.178, 0.264, 0.183, 0.265, 0.127, 6.799, 0.613),
    "SYM_SYM": (13.52, 6.18, 0.228, 0.085, 0.340, 0.317, 0.172, 0.075, 11.14, 0.134),
    "MEL_SYM": (12.30, 5.52, 0.228, 0.089, 0.384, 0.353, 0.189, 0.095, 7.467, 0.540),
    "SYM_MEL": (12.35, 5.53, 0.255, 0.099, 0.383, 0.350, 0.169, 0.086, 8.328, 0.458),
}
"""The paper's Table 1: one row per variant, values in the order of :data:`COLUMNS`."""

VARIANTS = tuple(PAPER)
"""The four variants, in the paper's order."""

COLUMNS = tuple((header, metric, METRIC_DIRECTIONS[metric]) for header, metric in TABLE1_COLUMNS)
"""``(header, metric, higher is better)`` of each column."""


def _ordering(values: dict[str, float], higher_is_better: bool) -> list[str]:
    return sorted(values, key=lambda name: -values[name] if higher_is_better else values[name])


def agreement(metrics: dict[str, dict], significance: dict[str, dict]) -> list[str]:
    """One line per column: the paper's order of the variants, ours, and whether they agree.

    Our winners are the best variant and those not significantly worse than it
    (the significance test also takes in the baselines, named when one of them
    is among the best); the paper's best "agrees" when it is among them.

    Args:
        metrics: The report's ``metrics``: row -> metric -> ``{"mean", ...}``.
        significance: The report's ``significance``: metric -> ``{"winners": [...]}``.
    """
    lines = []
    for position, (header, metric, higher) in enumerate(COLUMNS):
        ours = {name: metrics[name][metric]["mean"] for name in VARIANTS if metric in metrics[name]}
        if len(ours) < len(VARIANTS):
            lines.append(f"- {header}: not measured (no labelled clips)")
            continue
        paper_order = _ordering({name: PAPER[name][position] for name in VARIANTS}, higher)
        our_order = _ordering(ours, higher)
        tested = significance.get(metric, {}).get("winners")
        lines.append(
            f"- {header}: paper {' > '.join(paper_order)}; ours {' > '.join(our_order)} "
            f"-> {_verdict(paper_order, our_order, tested)}"
        )
    return lines


def _verdict(paper_order: list[str], our_order: list[str], tested: list[str] | None) -> str:
    winners = None if tested is None else [name for name in tested if name in VARIANTS]
    baselines = [] if tested is None else [name for name in tested if name not in VARIANTS]
    if paper_order == our_order:
        verdict = "same order"
    elif paper_order[0] == our_order[0]:
        verdict = "same best, different order"
    elif winners is None:
        verdict = "different best; not tested for significance (too few test pieces)"
    elif paper_order[0] in winners:
        verdict = f"paper's best is among our statistically tied best ({', '.join(winners)})"
    elif winners:
        verdict = f"disagrees: our best are {', '.join(winners)}"
    else:
        verdict = "disagrees: no variant is among the best"
    if baselines:
        verdict += f"; among the best rows are baselines too ({', '.join(baselines)})"
    return verdict


def mel_versus_symbolic(metrics: dict[str, dict], significance: dict[str, dict]) -> str:
    """The paper's conclusion (MEL_MEL best on every metric but key signature), checked."""
    best, tied = 0, 0
    compared = [
        (metric, higher)
        for _, metric, higher in COLUMNS
        if not metric.startswith("key") and metric in metrics["MEL_MEL"]
    ]
    for metric, higher in compared:
        values = {name: metrics[name][metric]["mean"] for name in VARIANTS}
        best += _ordering(values, higher)[0] == "MEL_MEL"
        tied += "MEL_MEL" in significance.get(metric, {}).get("winners", [])
    return (
        f"The paper finds MEL_MEL best on every metric but key signature; here MEL_MEL is "
        f"best on {best} of those {len(compared)} metrics, and best or not significantly "
        f"worse than the best on {tied} of them."
    )


def table1_markdown(report: dict[str, Any], timings: dict[str, float], command: str) -> str:
    """Table 1 in Markdown: ours (mean ± spread, winners bold), the paper's, the baselines.

    Args:
        report: An evaluation report (``report.json``) of the four variants.
        timings: Seconds per stage of the run that made it.
        command: The command that made it.
    """
    metrics = report["metrics"]
    winners = {metric: set(c["winners"]) for metric, c in report["significance"].items()}

    def cells(name: str) -> str:
        return " | ".join(
            format_value(metric, metrics[name].get(metric), name in winners.get(metric, ()))
            for _, metric, _ in COLUMNS
        )

    lines = [
        "# Table 1, reproduced",
        "",
        f"Command: `{command}`",
        "",
        "Ours: default corpus test split; mean ± spread over the training seeds "
        f"and {report['seeds']} probe seeds (MLP head); bold = best or not "
        "significantly worse, variants and baselines together (paired bootstrap "
        "over test works, training seeds resampled, Bonferroni). Paper: its Table 1 "
        "(a different, larger dataset, so the numbers are not directly comparable; "
        "the orderings are).",
        "",
        "| | " + " | ".join(name for name, _, _ in COLUMNS) + " |",
        "|---|" + "---:|" * len(COLUMNS),
    ]
    lines += [f"| {name} (ours) | {cells(name)} |" for name in VARIANTS]
    lines += [
        f"| {name} (paper) | " + " | ".join(str(value) for value in PAPER[name]) + " |"
        for name in VARIANTS
    ]
    baselines = [row["name"] for row in report["rows"] if row["kind"] != "model"]
    lines += [f"| {name} | {cells(name)} |" for name in baselines]
    lines += ["", "Where our ranking of the four variants agrees with the paper's:", ""]
    lines += agreement(metrics, report["significance"])
    lines += ["", mel_versus_symbolic(metrics, report["significance"]), ""]
    lines += ["Time taken (this invocation; resumed stages count only what was left):", ""]
    lines += [f"- {stage}: {seconds / 60:.1f} min" for stage, seconds in timings.items()]
    return "\n".join(lines) + "\n"


def table1_json(report: dict[str, Any], timings: dict[str, float]) -> dict[str, Any]:
    """The figures of :func:`table1_markdown` as JSON-ready values."""
    return {"paper": PAPER, "ours": report["metrics"], "timings_seconds": timings}


def evaluation_is_current(evaluation: Path, exports: list[Path], seeds: int) -> bool:
    """Whether ``evaluation`` holds a report of exactly these exports, newer than each.

    The report must also have been scored with this version's probes (the same
    probe seeds and grids).

    Args:
        evaluation: A folder written by ``tfembed-eval``.
        exports: The SavedModel folders it should have evaluated.
        seeds: The probe seeds it should have used.
    """
    try:
        report = json.loads((evaluation / REPORT_JSON).read_text())
        written = (evaluation / REPORT_JSON).stat().st_mtime
        newest = max((path / METADATA_NAME).stat().st_mtime for path in exports)
    except (OSError, ValueError):
        return False
    evaluated = {
        Path(export["saved_model"]).resolve()
        for row in report.get("rows", ())
        for export in row.get("exports", ())
    }
    wanted = {path.resolve() for path in exports}
    return (
        report.get("seeds") == seeds
        and report.get("probe_protocol") == probe_protocol()
        and evaluated == wanted
        and written > newest
    )
