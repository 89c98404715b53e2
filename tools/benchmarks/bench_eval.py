"""Evaluation benchmark: one model plus its baselines, timed phase by phase.

Runs ``tfembed-eval``'s evaluation of one exported model and its baselines
(chance, the random tower and the hand-made features of its domain) on a
prepared dataset, and reports each phase's wall time and its ratio to the
embedding phase of the same run (reading every split once and computing every
row's features), the unit that does not depend on the probe protocol. The
target: the whole evaluation under 5 minutes on 2 cores.

With ``--steps N`` (no ``--saved_model``) it first trains and exports a MEL_MEL
model for N steps (its weights do not change the cost).

Usage:
    python tools/benchmarks/bench_eval.py --data DATA_DIR --saved_model DIR [--out bench_eval.json]
    python tools/benchmarks/bench_eval.py --data DATA_DIR --steps 20
"""

from __future__ import annotations

import argparse
import datetime
import os
import shlex
import sys
import tempfile
from pathlib import Path

from tfembed.results.summary import head_commit, provenance

TARGET_SECONDS = 300.0


def _export_model(data: str, steps: int, root: Path) -> Path:
    from tfembed.cli.export import main as export_main
    from tfembed.cli.train import main as train_main

    run = root / "run"
    argv = ["--config", "mel_mel.gin", "--gin_param", f"train.steps = {steps}"]
    argv += ["--gin_param", "train.validate_every = 1000000"]
    assert train_main([*argv, "--data", data, "--model_dir", str(run)]) == 0
    assert export_main(["--model_dir", str(run), "--out", str(root / "saved"), "--data", data]) == 0
    return root / "saved"


def main() -> None:
    """Runs the benchmark, prints its table and writes its JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--saved_model")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default="bench_eval.json")
    args = parser.parse_args()
    from tfembed.dataset.manifest import read_manifest
    from tfembed.evaluation.evaluate import evaluate
    from tfembed.utils.atomic import write_json_atomically

    with tempfile.TemporaryDirectory() as scratch:
        saved = args.saved_model or str(_export_model(args.data, args.steps, Path(scratch)))
        report = evaluate([saved], args.data, Path(scratch) / "report", seeds=args.seeds)
    timing = report["timing_seconds"]
    total = report["seconds"]
    unit = timing["embedding"]
    counts = read_manifest(args.data)["counts"]
    rows = [
        *((phase, seconds) for phase, seconds in timing.items()),
        ("bootstrap, report, plots", total - sum(timing.values())),
        ("whole evaluation", total),
    ]
    print(
        f"{len(report['rows'])} rows (1 model + {len(report['rows']) - 1} baselines), "
        f"{sum(counts['clips'].values())} clips, {report['test_pieces']} test pieces, "
        f"{args.seeds} MLP seeds, {os.cpu_count()} cores"
    )
    print(f"| {'phase':<26} | {'wall s':>7} | {'x embedding':>11} |")
    print(f"|{'-' * 28}|{'-' * 9}|{'-' * 13}|")
    for phase, seconds in rows:
        print(f"| {phase:<26} | {seconds:7.1f} | {seconds / unit:11.2f} |")
    verdict = "meets" if total < TARGET_SECONDS else "misses"
    print(
        f"whole evaluation {total / 60:.1f} min: {verdict} the {TARGET_SECONDS / 60:.0f}-min target"
    )
    command = shlex.join(["python", "tools/benchmarks/bench_eval.py", *sys.argv[1:]])
    result = provenance(command, head_commit(Path(__file__).parent))
    result["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
    result.update(
        report_rows=len(report["rows"]),
        clips=counts["clips"],
        test_pieces=report["test_pieces"],
        seeds=args.seeds,
        target_seconds=TARGET_SECONDS,
        rows=[
            {
                "phase": phase,
                "seconds": round(seconds, 1),
                "ratio_to_embedding": round(seconds / unit, 2),
            }
            for phase, seconds in rows
        ],
    )
    write_json_atomically(args.out, result)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
