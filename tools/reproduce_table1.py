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

from tfembed.evaluation.evaluate import REPORT_JSON
from tfembed.evaluation.table1 import (
    VARIANTS,
    evaluation_is_current,
    table1_json,
    table1_markdown,
)
from tfembed.export.format import METADATA_NAME
from tfembed.training.run_folder import SAVED_MODEL_DIR

RECIPES = {"paper": ["--config", "paper.gin"], "ours": []}
"""Training recipes: extra ``tfembed-train`` arguments after the variant's config."""


def _run(command: list[str]) -> float:
    print("$ " + " ".join(command), flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - started


def write_table(report: dict, out: Path, timings: dict[str, float], command: str) -> str:
    """Writes table1.md and table1.json beside the evaluation; returns the Markdown."""
    markdown = table1_markdown(report, timings, command)
    (out / "table1.md").write_text(markdown)
    (out / "table1.json").write_text(json.dumps(table1_json(report, timings), indent=1))
    return markdown


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
            if (run / SAVED_MODEL_DIR / METADATA_NAME).is_file():
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
        out / f"{variant.lower()}-seed{seed}" / SAVED_MODEL_DIR
        for variant in VARIANTS
        for seed in range(args.train_seeds)
    ]
    command = [str(bin_dir / "tfembed-eval"), "--data", str(data), "--out", str(evaluation)]
    command += [part for path in exports for part in ("--saved_model", str(path))]
    if evaluation_is_current(evaluation, exports, args.seeds):
        print(f"evaluation {evaluation} is up to date with the exports: reused", flush=True)
    else:
        timings["evaluate"] = _run([*command, "--seeds", str(args.seeds)])
    report = json.loads((evaluation / REPORT_JSON).read_text())
    invocation = "python tools/reproduce_table1.py " + " ".join(sys.argv[1:])
    print(write_table(report, out, timings, invocation.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
