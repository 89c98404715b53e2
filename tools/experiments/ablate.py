"""Ablation of the training recipe: each lever on and off, several seeds, one evaluation.

Trains one variant with the paper's recipe (``configs/paper.gin``) and with
each lever of ``LEVERS`` on top of it (and all of them together), ``--seeds``
training seeds each, on one prepared dataset; a run that already has its
export is not trained again, so an interrupted ablation resumes. Then
evaluates every export together with the baselines in one ``tfembed-eval``
(significance included) and writes ``ablation.md``: per lever, the test
metrics over its seeds, bold where best or tied with the best.

Usage:
    python tools/experiments/ablate.py --data DATA --out runs/ablation [--variant MEL_MEL]
        [--steps 1500] [--seeds 3]
        [--levers paper in_batch gain cosine projection pitch_classes feature_workers multilevel
                  pretrain all]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from tfembed.evaluation.evaluate import REPORT_JSON, REPORT_MD
from tfembed.evaluation.report import format_value
from tfembed.export.format import METADATA_NAME
from tfembed.training.run_folder import SAVED_MODEL_DIR
from tfembed.utils.atomic import write_json_atomically

LEVERS = {
    "paper": [],
    "in_batch": ["train.negatives = 'in_batch'"],
    "cosine": ["train.lr_schedule = 'cosine'", "train.warmup_steps = 100"],
    "projection": ["train.projection = 256"],
    "gain": ["train.gain_db = 6.0"],
    "pitch_classes": ["train.pitch_classes = True"],
    "feature_workers": ["train.feature_workers = 1.0"],
    "multilevel": ["train.multilevel = True"],
    "pretrain": ["train.pretrain = True"],  # needs a dataset with a pretrain split
}
"""Named sets of bindings; ``all`` combines every lever."""

HEADLINE = (
    ("rank@100 AM", "rank_am"),
    ("GM", "rank_gm"),
    ("composer microF", "composer_micro_f1"),
    ("key microF", "key_micro_f1"),
    ("tempo 8%", "tempo_within_8pct"),
    ("density R^2", "density_r2"),
)
"""Columns of the ablation table (MLP probes; ``report.md`` has every metric)."""


def _bindings(lever: str) -> list[str]:
    if lever == "all":
        return [binding for bindings in LEVERS.values() for binding in bindings]
    return LEVERS[lever]


def _tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _train(data: Path, run: Path, variant: str, steps: int, seed: int, lever: str) -> float:
    """Trains one run unless it has its export; returns the seconds it took (0 if none)."""
    if (run / SAVED_MODEL_DIR / METADATA_NAME).is_file():
        return 0.0
    command = [_tool("tfembed-train"), "--config", f"{variant.lower()}.gin", "--config"]
    command += ["paper.gin", "--data", str(data), "--model_dir", str(run)]
    for binding in [f"train.steps = {steps}", f"train.seed = {seed}", *_bindings(lever)]:
        command += ["--gin_param", binding]
    print("$ " + " ".join(command), flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - started


def _recorded_seconds(path: Path) -> dict[str, float]:
    """Training seconds of each run so far (a resumed run adds its new part)."""
    return json.loads(path.read_text()) if path.is_file() else {}


def main() -> int:
    """Trains every lever and seed, evaluates them together, prints the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="a prepared dataset")
    parser.add_argument("--out", default="runs/ablation")
    parser.add_argument("--variant", default="MEL_MEL")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--levers", nargs="+", default=[*LEVERS, "all"])
    args = parser.parse_args()
    out, data = Path(args.out), Path(args.data)
    seconds_file = out / "train_seconds.json"
    seconds = _recorded_seconds(seconds_file)
    exports = []
    for lever in args.levers:
        for seed in range(args.seeds):
            run = out / f"{lever}-seed{seed}"
            spent = _train(data, run, args.variant, args.steps, seed, lever)
            if spent:
                seconds[run.name] = seconds.get(run.name, 0.0) + spent
                write_json_atomically(seconds_file, seconds)
            export = out / "exports" / run.name  # the report names rows by this folder
            if not (export / METADATA_NAME).is_file():
                command = [_tool("tfembed-export"), "--model_dir", str(run), "--out", str(export)]
                subprocess.run(command, check=True)
            exports.append(export)
    evaluation = out / "eval"
    command = [_tool("tfembed-eval"), "--data", str(data)]
    command += ["--out", str(evaluation)]
    for export in exports:
        command += ["--saved_model", str(export)]
    print("$ " + " ".join(command), flush=True)
    subprocess.run(command, check=True)
    report = json.loads((evaluation / REPORT_JSON).read_text())
    markdown = ablation_table(report, args.variant, args.levers, seconds)
    (out / "ablation.md").write_text(markdown)
    print(markdown)
    print(f"every metric, significance and baselines: {evaluation / REPORT_MD}")
    return 0


def ablation_table(report: dict, variant: str, levers: list[str], seconds: dict[str, float]) -> str:
    """One row per lever (its training seeds merged) and per baseline, bold = best or tied.

    ``train min`` is the mean training time of one run of the lever.
    """
    header = "| recipe | " + " | ".join(name for name, _ in HEADLINE) + " | train min/run |"
    lines = [header, "|---" + "|---:" * (len(HEADLINE) + 1) + "|"]
    rows = [(f"{variant} ({lever})", lever) for lever in levers]
    rows += [(row["name"], None) for row in report["rows"] if row["kind"] != "model"]
    for name, lever in rows:
        metrics = report["metrics"].get(name, {})
        cells = []
        for _, metric in HEADLINE:
            winners = report["significance"].get(metric, {}).get("winners", [])
            cells.append(format_value(metric, metrics.get(metric), name in winners))
        runs = [seconds[run] for run in seconds if lever and run.startswith(f"{lever}-seed")]
        minutes = f"{sum(runs) / len(runs) / 60:.1f}" if runs else ""
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {minutes} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
