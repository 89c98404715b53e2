"""Multi-worker benchmark: steps and pairs per second of 1 worker against N, on this machine.

Each configuration is a real job started with ``tools/local_cluster.py``: every
worker builds the MEL_MEL Trainer under MultiWorkerMirroredStrategy, reads its
share of the neighbour pairs, warms up, then times ``--steps`` steps of the
global batch (``--batch_size``, divided among the workers). The chief's timing
is reported. It prints a table and writes JSON.

Usage: python tools/benchmarks/bench_multi_worker.py --data DATA_DIR [--workers 1 2] [--steps 30]
    [--batch_size 32] [--out bench_multi_worker.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

LOCAL_CLUSTER = Path(__file__).resolve().parents[1] / "local_cluster.py"
WARMUP_STEPS = 3
RESULT_PREFIX = "[worker 0] bench "


def _worker(data: str, steps: int, batch_size: int) -> None:
    """Runs inside each worker: times the training steps, the chief prints the result."""
    from tfembed.training.trainer import make_strategy

    strategy = make_strategy("multi_worker")  # before any other TensorFlow operation

    from tfembed.dataset.manifest import open_dataset
    from tfembed.dataset.pairs import neighbour_pairs
    from tfembed.training.config import TrainConfig
    from tfembed.training.trainer import Trainer
    from tfembed.training.workers import WorkerRole, with_shard_policy

    role = WorkerRole.of(strategy)
    dataset = open_dataset(data)
    config = TrainConfig(variant="MEL_MEL", batch_size=batch_size, distribution="multi_worker")
    trainer = Trainer(config, dataset.grid, strategy)
    pairs = neighbour_pairs(dataset, "train", "mel", "mel", batch_size, seed=0)
    pairs = with_shard_policy(pairs, len(dataset.shard_paths("train")), role.workers)
    batches = iter(strategy.experimental_distribute_dataset(pairs))
    for _ in range(WARMUP_STEPS):
        float(trainer.train_step(next(batches)))
    started = time.perf_counter()
    for _ in range(steps):
        float(trainer.train_step(next(batches)))
    elapsed = time.perf_counter() - started
    if role.is_chief:
        result = {
            "workers": role.workers,
            "global_batch": batch_size,
            "steps": steps,
            "steps_per_second": round(steps / elapsed, 3),
            "pairs_per_second": round(steps * batch_size / elapsed, 1),
        }
        print("bench " + json.dumps(result), flush=True)


def _job(data: str, workers: int, steps: int, batch_size: int) -> dict:
    """Runs one configuration through local_cluster.py; returns the chief's result."""
    command = [sys.executable, str(LOCAL_CLUSTER), "--workers", str(workers), "--"]
    command += [sys.executable, __file__, "--worker", "--data", data]
    command += ["--steps", str(steps), "--batch_size", str(batch_size)]
    job = subprocess.run(command, capture_output=True, text=True, check=False)
    if job.returncode != 0:
        sys.exit(f"bench_multi_worker: error: the {workers}-worker job failed:\n{job.stdout}")
    line = next(line for line in job.stdout.splitlines() if line.startswith(RESULT_PREFIX))
    return json.loads(line[len(RESULT_PREFIX) :])


def main() -> None:
    """Runs every configuration, prints the table and writes the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--out", default="bench_multi_worker.json")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args.data, args.steps, args.batch_size)
        return
    results = [_job(args.data, count, args.steps, args.batch_size) for count in args.workers]
    report = {"cpu_count": os.cpu_count(), "variant": "MEL_MEL", "results": results}
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"| workers | global batch | steps / s | pairs / s |   ({os.cpu_count()} CPU cores)")
    print("|--------:|-------------:|----------:|----------:|")
    for result in results:
        print(
            f"| {result['workers']:>7} | {result['global_batch']:>12} | "
            f"{result['steps_per_second']:>9.3f} | {result['pairs_per_second']:>9.1f} |"
        )


if __name__ == "__main__":
    main()
