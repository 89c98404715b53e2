"""Demo benchmark: the README's first command from a fresh clone, timed stage by stage.

Clones the repository's checked-out commit into a new folder and runs there what a
newcomer runs, ``bash tools/setup.sh && bash tools/demo.sh``, with an empty pip
cache (``PIP_NO_CACHE_DIR=1``) and an empty score-conversion cache, optionally with
oneDNN's kernels capped at an instruction set (``--isa AVX2`` runs AVX2 kernels on
an AVX-512 CPU, the common laptop's case). It reports:

* the seconds of the set-up and of each stage the demo prints (preparation,
  training and export, evaluation), against the targets of 20 minutes in all and
  12 for the three stages;
* the demo model's test rank@100 against the paper's MEL_MEL, and its probes
  against the random tower of the same report, with the paired bootstrap's p-values
  (a probe counts as beaten where the model is better at p < 0.05).

It prints a table and writes JSON (``--out``).

Usage: python tools/benchmarks/bench_demo.py --work DIR [--isa AVX2] [--out bench_demo.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tfembed.evaluation.table1 import PAPER
from tfembed.results.summary import head_commit, provenance
from tfembed.utils.atomic import write_json_atomically

REPOSITORY = Path(__file__).resolve().parents[2]
TARGET_SECONDS = {"all_stages": 12 * 60, "setup_and_stages": 20 * 60}
STAGES = {
    "preparation": "preparation",
    "training and export": "training_and_export",
    "evaluation": "evaluation",
}
PROBES = ("composer_micro_f1", "key_micro_f1", "tempo_within_8pct", "density_mae")
METRICS = ("rank_at_100_am", "rank_at_100_gm", *PROBES, "density_r2")
REPORT_NAMES = {"rank_at_100_am": "rank_am", "rank_at_100_gm": "rank_gm"}
SIGNIFICANT = 0.05


def _run(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> tuple[float, str]:
    """Runs ``command``, its output teed to ``log``; returns its seconds and output."""
    started = time.monotonic()
    with log.open("w") as sink:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        lines = []
        for line in process.stdout:
            sink.write(line)
            lines.append(line)
            if not line.startswith(("20", "WARNING", "I0000", "W0000")):
                print(line, end="", flush=True)
        if process.wait():
            failed = f"{shlex.join(command)} failed (exit {process.returncode})"
            sys.exit(f"bench_demo: {failed}; see {log}")
    return time.monotonic() - started, "".join(lines)


def stage_seconds(output: str) -> dict[str, int]:
    """The seconds of each stage as ``tools/demo.sh`` prints them.

    Raises:
        ValueError: A stage's line is missing.
    """
    seconds = {}
    for printed, key in STAGES.items():
        found = re.search(rf"^\s*{printed} took (\d+) s$", output, re.MULTILINE)
        if found is None:
            raise ValueError(f"the demo printed no time for its {printed} stage")
        seconds[key] = int(found.group(1))
    seconds["all_stages"] = sum(seconds.values())
    return seconds


def demo_rows(report: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, dict], int]:
    """The demo model's and the random tower's figures, the paper's, and the p-values.

    Args:
        report: The demo's ``report.json``.

    Returns:
        The rows; per probe kind (``mlp``, ``linear``) the p-value of the model against
        the random tower; how many MLP probes the model wins at p < 0.05. A task the
        report skipped (too few labels) is left out.
    """
    model = next(row["name"] for row in report["rows"] if row["kind"] == "model")
    against = report["against_random_tower"][model]
    random_tower = against["baseline"]
    rows = []
    for label, name in ((f"demo: {model}", model), (random_tower, random_tower)):
        metrics = report["metrics"][name]
        row = {"row": label}
        for metric in METRICS:
            if REPORT_NAMES.get(metric, metric) in metrics:
                value = metrics[REPORT_NAMES.get(metric, metric)]["mean"]
                row[metric] = round(value, 2 if metric.startswith("rank") else 3)
        rows.append(row)
    paper_am, paper_gm = PAPER["MEL_MEL"][:2]
    rows.append({"row": "paper MEL_MEL", "rank_at_100_am": paper_am, "rank_at_100_gm": paper_gm})
    probes = [probe for probe in PROBES if probe in against["p_values"]]
    p_values = {
        kind: {
            probe.split("_")[0]: round(against["p_values"][prefix + probe], 3) for probe in probes
        }
        for kind, prefix in (("mlp", ""), ("linear", "linear_"))
    }
    beaten = sum(
        against["better"][probe] and against["p_values"][probe] < SIGNIFICANT for probe in probes
    )
    return rows, p_values, beaten


def main() -> None:
    """Runs the benchmark, prints its table and writes its JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, help="a new folder for the clone and its caches")
    parser.add_argument("--isa", help="ONEDNN_MAX_CPU_ISA for the demo, e.g. AVX2")
    parser.add_argument("--out", default="bench_demo.json")
    args = parser.parse_args()
    work = Path(args.work)
    if work.exists():
        sys.exit(f"bench_demo: --work {work} exists; the benchmark needs a new folder")
    work.mkdir(parents=True)
    fresh = work / "fresh"
    subprocess.run(["git", "clone", "--quiet", str(REPOSITORY), str(fresh)], check=True)
    commit = head_commit(REPOSITORY)
    subprocess.run(["git", "-C", str(fresh), "checkout", "--quiet", commit], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    env.update(PIP_NO_CACHE_DIR="1", TFEMBED_CACHE=str(work / "conversions"))
    setup, _ = _run(["bash", "tools/setup.sh"], fresh, env, work / "setup.log")
    if args.isa:
        env["ONEDNN_MAX_CPU_ISA"] = args.isa
    _, output = _run(["bash", "tools/demo.sh"], fresh, env, work / "demo.log")
    seconds = {"setup": round(setup), **stage_seconds(output)}
    seconds["setup_and_stages"] = seconds["setup"] + seconds["all_stages"]
    report = json.loads((fresh / "runs" / "demo" / "eval" / "report.json").read_text())
    rows, p_values, beaten = demo_rows(report)

    print(f"| {'stage':<20} | {'seconds':>7} | {'target':>6} |")
    print(f"|{'-' * 22}|{'-' * 9}|{'-' * 8}|")
    for stage, value in seconds.items():
        target = TARGET_SECONDS.get(stage)
        print(f"| {stage:<20} | {value:7d} | {target if target else '':>6} |")
    print(f"| {'row':<20} | " + " | ".join(f"{metric:>17}" for metric in METRICS) + " |")
    for row in rows:
        cells = (f"{row[metric]:>17}" if metric in row else " " * 17 for metric in METRICS)
        print(f"| {row['row']:<20} | " + " | ".join(cells) + " |")
    print(f"MLP probes better than the random tower (p < {SIGNIFICANT}): {beaten} of {len(PROBES)}")

    command = shlex.join(["python", "tools/benchmarks/bench_demo.py", *sys.argv[1:]])
    result = provenance(command, commit)
    result["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
    if args.isa:
        result["machine"]["onednn_isa"] = args.isa
    steps = re.search(r"train MEL_MEL for (\d+) steps", output)
    result.update(
        benchmark="demo",
        steps=int(steps.group(1)) if steps else None,
        fresh_clone=(
            "empty .venv, no pip cache (PIP_NO_CACHE_DIR=1), empty conversion cache: "
            "preparation reads the shipped music21 conversions"
        ),
        stage_seconds=seconds,
        target_seconds=TARGET_SECONDS,
        evaluation_seconds=report["timing_seconds"],
        rows=rows,
        vs_random_tower_p=p_values,
        probes_beating_random_tower=beaten,
    )
    write_json_atomically(args.out, result)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
