"""Ablation of the training recipe: each lever on and off, several seeds, one evaluation.

Trains one variant with the paper's recipe and with each lever of
``LEVERS`` (and all of them together), ``--seeds`` training seeds each, on one
prepared dataset; a run that already has its export is not trained again, so an
interrupted ablation resumes. Then evaluates every export together with the
baselines in one ``tfembed-eval`` (significance included) and prints, per
lever, the test metrics averaged over seeds.

Usage:
    python tools/ablate.py --data DATA --out runs/ablation [--variant MEL_MEL]
        [--steps 1500] [--seeds 3] [--levers paper in_batch cosine projection all]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

LEVERS = {
    "paper": [],
    "in_batch": ["train.negatives = 'in_batch'"],
    "cosine": ["train.lr_schedule = 'cosine'", "train.warmup_steps = 100"],
    "projection": ["train.projection = 256"],
}
"""Named sets of bindings; ``all`` combines every lever."""

HEADLINE = ("rank_am", "rank_gm", "composer_micro_f1", "key_micro_f1", "density_r2")


def _bindings(lever: str) -> list[str]:
    if lever == "all":
        return [binding for bindings in LEVERS.values() for binding in bindings]
    return LEVERS[lever]


def _tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _train(data: Path, run: Path, variant: str, steps: int, seed: int, lever: str) -> float:
    """Trains one run unless it has its export; returns the seconds it took."""
    if (run / "saved_model" / "metadata.json").is_file():
        return 0.0
    command = [_tool("tfembed-train"), "--config"]
    command += [f"{variant.lower()}.gin", "--data", str(data), "--model_dir", str(run)]
    for binding in [f"train.steps = {steps}", f"train.seed = {seed}", *_bindings(lever)]:
        command += ["--gin_param", binding]
    print("$ " + " ".join(command), flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - started


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
    seconds: dict[str, float] = defaultdict(float)
    exports = []
    for lever in args.levers:
        for seed in range(args.seeds):
            run = out / f"{lever}-seed{seed}"
            seconds[lever] += _train(data, run, args.variant, args.steps, seed, lever)
            export = out / "exports" / run.name  # the report names rows by this folder
            if not (export / "metadata.json").is_file():
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
    report = json.loads((evaluation / "report.json").read_text())
    table = defaultdict(lambda: defaultdict(list))
    for row, metrics in report["metrics"].items():
        lever = next((name for name in args.levers if f"({name}-seed" in row), None)
        for metric in HEADLINE:
            if lever is not None and metric in metrics:
                table[lever][metric].append(metrics[metric]["mean"])
    lines = ["| lever | " + " | ".join(HEADLINE) + " | train min |", "|---" * 7 + "|"]
    for lever in args.levers:
        values = [
            f"{sum(table[lever][m]) / len(table[lever][m]):.3f}" if table[lever][m] else "n/a"
            for m in HEADLINE
        ]
        lines.append(f"| {lever} | " + " | ".join(values) + f" | {seconds[lever] / 60:.1f} |")
    markdown = "\n".join(lines) + "\n"
    (out / "ablation.md").write_text(markdown)
    print(markdown)
    print(f"significance and baselines: {evaluation / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
