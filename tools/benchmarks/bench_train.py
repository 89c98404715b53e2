"""Training benchmark: pairs per second per variant, input pipeline alone, memory.

* For each variant, the training step's throughput (pairs/s) after a warm-up.
* The input pipeline alone (neighbour pairs read, parsed, shuffled, batched)
  against the training step's consumption: the pipeline should be >= 5x faster.
* The cost of deterministic training (``train.deterministic``: one op at a time)
  on MEL_MEL, as a ratio to the default scheduling, each in its own process,
  alternated twice.
* Peak resident memory of a short training run on the dataset and on a dataset
  four times larger (the same shards listed four times), each in its own
  process: training streams from the shards, so it should not grow.

It prints a table and writes JSON.

Usage: python tools/benchmarks/bench_train.py --data DATA_DIR [--steps 40] [--out bench_train.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BATCH_SIZE = 32


def _step_throughput(data: str, variant: str, steps: int) -> float:

    from tfembed.dataset.manifest import open_dataset
    from tfembed.dataset.pairs import neighbour_pairs
    from tfembed.models.siamese import VARIANTS
    from tfembed.training.config import TrainConfig
    from tfembed.training.trainer import Trainer

    spec = VARIANTS[variant]
    dataset = open_dataset(data)
    trainer = Trainer(TrainConfig(variant=variant, batch_size=BATCH_SIZE), dataset.grid)
    batches = iter(neighbour_pairs(dataset, "train", spec.first, spec.second, BATCH_SIZE, seed=0))
    for _ in range(3):
        trainer.train_step(next(batches))
    fixed = next(batches)
    started = time.perf_counter()
    for _ in range(steps):
        float(trainer.train_step(fixed))
    return steps * BATCH_SIZE / (time.perf_counter() - started)


def _pipeline_throughput(data: str, batches: int) -> float:
    from tfembed.dataset.manifest import open_dataset
    from tfembed.dataset.pairs import neighbour_pairs

    iterator = iter(neighbour_pairs(open_dataset(data), "train", "mel", "roll", BATCH_SIZE, seed=0))
    next(iterator)
    started = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * BATCH_SIZE / (time.perf_counter() - started)


def _four_times_larger(data: str, folder: Path) -> str:
    """A dataset folder whose manifest lists every shard four times (links, no copies)."""
    from tfembed.dataset.manifest import DATASET_MANIFEST_NAME, read_manifest

    manifest = read_manifest(data)
    for split, entries in manifest["shards"].items():
        listed = []
        for copy in range(4):
            for entry in entries:
                name = f"copy{copy}-{entry['file']}"
                (folder / name).symlink_to(Path(data).resolve() / entry["file"])
                listed.append({**entry, "file": name})
        manifest["shards"][split] = listed
    (folder / DATASET_MANIFEST_NAME).write_text(json.dumps(manifest))
    return str(folder)


def _train_child(data: str, steps: int, one_op_at_a_time: bool = False) -> dict:
    """Runs a short MEL_MEL training in a child process; returns its measurements."""
    command = [sys.executable, __file__, "--child", "--data", data, "--steps", str(steps)]
    output = subprocess.run(
        command + (["--one_op_at_a_time"] if one_op_at_a_time else []),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def _child(data: str, steps: int, one_op_at_a_time: bool) -> None:
    from tfembed.dataset.manifest import read_manifest
    from tfembed.training.determinism import run_ops_one_at_a_time
    from tfembed.utils.memory import peak_rss_mb

    if one_op_at_a_time and not run_ops_one_at_a_time():
        raise RuntimeError("TensorFlow started before the inter-op threads could be set")
    pairs_per_second = _step_throughput(data, "MEL_MEL", steps)
    manifest = read_manifest(data)
    clips = sum(entry["clips"] for entries in manifest["shards"].values() for entry in entries)
    print(
        json.dumps(
            {
                "peak_rss_mb": round(peak_rss_mb(), 1),
                "clips": clips,
                "pairs_per_second": pairs_per_second,
            }
        )
    )


def main() -> None:
    """Runs the benchmark, prints the table and writes the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--out", default="bench_train.json")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--one_op_at_a_time", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.data, args.steps, args.one_op_at_a_time)
        return

    variants = {
        name: round(_step_throughput(args.data, name, args.steps), 1)
        for name in ("MEL_MEL", "SYM_SYM", "MEL_SYM", "SYM_MEL")
    }
    pipeline = round(_pipeline_throughput(args.data, 200), 1)
    scheduling: dict[str, list[float]] = {"parallel": [], "one at a time": []}
    for _ in range(2):
        for name, one_at_a_time in (("parallel", False), ("one at a time", True)):
            child = _train_child(args.data, args.steps, one_at_a_time)
            scheduling[name].append(child["pairs_per_second"])
    deterministic_cost = sum(scheduling["parallel"]) / sum(scheduling["one at a time"])
    with tempfile.TemporaryDirectory() as scratch:
        larger = _four_times_larger(args.data, Path(scratch))
        memory = {
            name: (child["peak_rss_mb"], child["clips"])
            for name, child in (
                ("dataset", _train_child(args.data, args.steps)),
                ("4x dataset", _train_child(larger, args.steps)),
            )
        }
    slowest = min(variants.values())
    result = {
        "batch_size": BATCH_SIZE,
        "train_pairs_per_second": variants,
        "pipeline_pairs_per_second": pipeline,
        "pipeline_vs_slowest_step": round(pipeline / slowest, 1),
        "mel_mel_pairs_per_second_by_op_scheduling": scheduling,
        "deterministic_step_time_ratio": round(deterministic_cost, 3),
        "peak_rss_mb": {
            name: {"peak_rss_mb": rss, "clips": clips} for name, (rss, clips) in memory.items()
        },
        "cpu_count": os.cpu_count(),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"| {'what':<34} | {'pairs / s':>9} |")
    print(f"|{'-' * 36}|{'-' * 11}|")
    for name, value in variants.items():
        print(f"| {'train step ' + name:<34} | {value:>9.1f} |")
    print(f"| {'input pipeline alone':<34} | {pipeline:>9.1f} |")
    print(f"pipeline / slowest training step: {result['pipeline_vs_slowest_step']}x")
    print(
        "deterministic training (one op at a time): step time x"
        f"{result['deterministic_step_time_ratio']} of the default"
    )
    for name, (rss, clips) in memory.items():
        print(f"peak RSS training on {name} ({clips} clips): {rss:.0f} MiB")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
