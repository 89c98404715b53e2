"""Reproduces Table 1 of Gururani et al. (ICML 2019 workshop) on the default corpus.

Prepares the music21 corpus, trains the four variants (MEL_MEL, SYM_SYM,
MEL_SYM, SYM_MEL), exports them, evaluates them together with tfembed-eval
and writes ``table1.md`` and ``table1.json``: our numbers beside the paper's,
and where the ranking of the variants agrees with the paper's and where not.
Every stage resumes: run the same command again after an interruption.

CPU budget (default): 40 pieces per composer, 3 training seeds x 1,000 steps per variant.
GPU budget: ``--pieces_per_composer 1000 --steps 20000`` (all corpus pieces).
The prepared data has a pretrain split (up to 200 more scores per composer, works held
out of every evaluation) that ``--recipe ours`` also trains on and ``--recipe paper``
does not (``paper.gin`` sets ``train.pretrain = False``).

Usage::

    python tools/reproduce_table1.py --out runs/table1 [--steps 1000] [--train_seeds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tfembed.evaluation.probes import probe_protocol
from tfembed.evaluation.report import METRIC_DIRECTIONS, TABLE1_COLUMNS, format_value
from tfembed.models.siamese import VARIANTS

PAPER = {
    # Gururani, Lerch and Bretan, "A Comparison of Music Input Domains for
    # Self-Supervised Feature Learning", ICML 2019 ML4MD workshop, Table 1.
    "MEL_MEL": (7.966, 3.77, 0.330, 0.178, 0.264, 0.183, 0.265, 0.127, 6.799, 0.613),
    "SYM_SYM": (13.52, 6.18, 0.228, 0.085, 0.340, 0.317, 0.172, 0.075, 11.14, 0.134),
    "MEL_SYM": (12.30, 5.52, 0.228, 0.089, 0.384, 0.353, 0.189, 0.095, 7.467, 0.540),
    "SYM_MEL": (12.35, 5.53, 0.255, 0.099, 0.383, 0.350, 0.169, 0.086, 8.328, 0.458),
}
RECIPES = {"paper": ["--config", "paper.gin"], "ours": []}
"""Training recipes: extra ``tfembed-train`` arguments after the variant's config."""
COLUMNS = tuple((header, metric, METRIC_DIRECTIONS[metric]) for header, metric in TABLE1_COLUMNS)


def _run(command: list[str]) -> float:
    print("$ " + " ".join(command), flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - started


def _cell(metric: str, value: dict[str, float] | None, bold: bool = False) -> str:
    """Mean and spread over training and probe seeds, formatted as in report.md."""
    return format_value(metric, value, bold)


def _ordering(values: dict[str, float], higher_is_better: bool) -> list[str]:
    return sorted(values, key=lambda name: -values[name] if higher_is_better else values[name])


def _agreement(metrics: dict[str, dict], significance: dict[str, dict]) -> list[str]:
    """One line per column: the paper's order of the variants, ours, and whether they agree.

    Our winners are the best variant and those not significantly worse than it
    (the significance test also takes in the baselines, named when one of them
    is among the best); the paper's best "agrees" when it is among them.
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
        lines.append(
            f"- {header}: paper {' > '.join(paper_order)}; ours {' > '.join(our_order)} "
            f"-> {verdict}"
        )
    return lines


def _mel_versus_symbolic(metrics: dict[str, dict], significance: dict[str, dict]) -> str:
    """The paper's conclusion: MEL_MEL best on every metric except key signature."""
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


def write_table(report: dict, out: Path, timings: dict[str, float], command: str) -> str:
    """Writes table1.md and table1.json beside the evaluation; returns the Markdown."""
    metrics = report["metrics"]
    winners = {metric: set(c["winners"]) for metric, c in report["significance"].items()}
    header = "| | " + " | ".join(name for name, _, _ in COLUMNS) + " |"
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
        header,
        "|---|" + "---:|" * len(COLUMNS),
    ]
    for name in VARIANTS:
        cells = [
            _cell(metric, metrics[name].get(metric), name in winners.get(metric, ()))
            for _, metric, _ in COLUMNS
        ]
        lines.append(f"| {name} (ours) | " + " | ".join(cells) + " |")
    for name in VARIANTS:
        lines.append(
            f"| {name} (paper) | " + " | ".join(str(value) for value in PAPER[name]) + " |"
        )
    for row in report["rows"]:
        if row["kind"] != "model":
            name = row["name"]
            cells = [
                _cell(metric, metrics[name].get(metric), name in winners.get(metric, ()))
                for _, metric, _ in COLUMNS
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Where our ranking of the four variants agrees with the paper's:", ""]
    lines += _agreement(metrics, report["significance"])
    lines += ["", _mel_versus_symbolic(metrics, report["significance"]), ""]
    lines += ["Time taken (this invocation; resumed stages count only what was left):", ""]
    lines += [f"- {stage}: {seconds / 60:.1f} min" for stage, seconds in timings.items()]
    markdown = "\n".join(lines) + "\n"
    (out / "table1.md").write_text(markdown)
    (out / "table1.json").write_text(
        json.dumps({"paper": PAPER, "ours": metrics, "timings_seconds": timings}, indent=1)
    )
    return markdown


def _evaluation_is_current(evaluation: Path, exports: list[Path], seeds: int) -> bool:
    """Whether ``evaluation`` holds a report of exactly these exports, newer than each.

    The report must also have been scored with this version's probes (the same
    probe seeds and grids).
    """
    try:
        report = json.loads((evaluation / "report.json").read_text())
        written = (evaluation / "report.json").stat().st_mtime
        newest = max((path / "metadata.json").stat().st_mtime for path in exports)
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


def main() -> int:
    """Runs every stage, then writes the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/table1", help="folder for data, runs, reports")
    parser.add_argument("--data", help="an already prepared dataset (skips preparation)")
    parser.add_argument("--steps", type=int, default=1000, help="training steps per run")
    parser.add_argument(
        "--recipe",
        choices=RECIPES,
        default="paper",
        help="paper: configs/paper.gin, the paper's recipe; ours: the defaults (our recipe)",
    )
    parser.add_argument("--pieces_per_composer", type=int, default=40)
    parser.add_argument(
        "--pretrain_pieces_per_composer",
        type=int,
        default=200,
        help="more scores per composer in the pretrain split (0: none)",
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seeds", type=int, default=3, help="probe seeds")
    parser.add_argument(
        "--train_seeds", type=int, default=3, help="training runs per variant (train.seed 0..N-1)"
    )
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    out = Path(args.out)
    timings: dict[str, float] = {}
    data = Path(args.data) if args.data else out / "data"
    if not args.data:
        timings["prepare"] = _run(
            [
                str(bin_dir / "tfembed-prepare"),
                "--corpus",
                "music21",
                "--pieces_per_composer",
                str(args.pieces_per_composer),
                *(
                    ["--pretrain_pieces_per_composer", str(args.pretrain_pieces_per_composer)]
                    if args.pretrain_pieces_per_composer
                    else []
                ),
                "--workers",
                str(args.workers),
                "--out",
                str(data),
            ]
        )
    for variant in VARIANTS:
        for seed in range(args.train_seeds):
            run = out / f"{variant.lower()}-seed{seed}"
            if (run / "saved_model" / "metadata.json").is_file():
                continue  # resumed: this run and its export are done
            timings[f"train {variant} seed {seed}"] = _run(
                [
                    str(bin_dir / "tfembed-train"),
                    "--config",
                    f"{variant.lower()}.gin",
                    *RECIPES[args.recipe],
                    "--data",
                    str(data),
                    "--model_dir",
                    str(run),
                    "--gin_param",
                    f"train.steps = {args.steps}",
                    "--gin_param",
                    f"train.seed = {seed}",
                ]
            )
    evaluation = out / "eval"
    exports = [  # the exports of one variant's seeds make one row
        out / f"{variant.lower()}-seed{seed}" / "saved_model"
        for variant in VARIANTS
        for seed in range(args.train_seeds)
    ]
    command = [str(bin_dir / "tfembed-eval"), "--data", str(data), "--out", str(evaluation)]
    command += [part for path in exports for part in ("--saved_model", str(path))]
    if _evaluation_is_current(evaluation, exports, args.seeds):
        print(f"evaluation {evaluation} is up to date with the exports: reused", flush=True)
    else:
        timings["evaluate"] = _run([*command, "--seeds", str(args.seeds)])
    report = json.loads((evaluation / "report.json").read_text())
    invocation = "python tools/reproduce_table1.py " + " ".join(sys.argv[1:])
    print(write_table(report, out, timings, invocation.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
