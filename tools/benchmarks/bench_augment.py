"""Timbre augmentation benchmark: the input pipeline with the chain against the training step.

In one process, on the train split of a prepared dataset:

* the MEL_MEL training step (the shipped ``mel_mel.gin``, its batch size) on one
  fixed batch: pairs/s;
* the input pipeline alone (:func:`tfembed.dataset.pairs.neighbour_pairs`, mel and
  mel) without augmentation, with the default
  :class:`tfembed.dataset.timbre.TimbreAugment` and with every transform always
  applied: pairs/s, and the ratio to the training step (it must stay above 1);
* training fed by the pipeline with the default chain, against the fixed batch:
  what the chain costs the training loop when both share the cores.

It prints a table and writes JSON with the date, commit, command and machine.

Usage: python tools/benchmarks/bench_augment.py --data DATA_DIR
    [--steps 30] [--batches 60] [--out docs/results/bench_augment.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import subprocess
import sys
import time
from pathlib import Path

from tfembed.utils.machine import describe_machine, this_machine


def _commit() -> str:
    repository = Path(__file__).resolve().parents[2]
    described = subprocess.run(
        ["git", "-C", str(repository), "describe", "--always", "--dirty", "--abbrev=12"],
        capture_output=True,
        text=True,
    )
    return described.stdout.strip() or "unknown"


def _pairs_per_second(batches, count: int, batch_size: int, consume=None) -> float:
    """Pairs/s over ``count`` batches of an iterator, after one batch of warm-up."""
    consume = consume or (lambda batch: batch)
    consume(next(batches))
    started = time.perf_counter()
    for _ in range(count):
        consume(next(batches))
    return count * batch_size / (time.perf_counter() - started)


def main() -> None:
    """Runs the benchmark, prints the table and writes the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--out", default="docs/results/bench_augment.json")
    args = parser.parse_args()

    from tfembed.dataset.manifest import open_dataset
    from tfembed.dataset.pairs import neighbour_pairs
    from tfembed.dataset.timbre import TimbreAugment
    from tfembed.training.config import TrainConfig
    from tfembed.training.configs import parse_configs
    from tfembed.training.trainer import Trainer, precision_policy, precision_policy_name

    parse_configs(["mel_mel.gin"], [])
    config = TrainConfig()
    batch_size = config.batch_size
    dataset = open_dataset(args.data)
    chains = {
        "none": None,
        "default chain": TimbreAugment(),
        "every transform": TimbreAugment(
            reverb_probability=1.0,
            eq_probability=1.0,
            lowpass_probability=1.0,
            noise_probability=1.0,
            gain_probability=1.0,
        ),
    }

    def pipeline(augment):
        return iter(
            neighbour_pairs(
                dataset, "train", "mel", "mel", batch_size, seed=0, timbre_augment=augment
            )
        )

    with precision_policy(precision_policy_name(config.mixed_precision)):
        trainer = Trainer(config, dataset.grid)
    fixed = next(pipeline(None))
    for _ in range(3):
        float(trainer.train_step(fixed))
    step = _pairs_per_second(
        iter(lambda: fixed, None),
        args.steps,
        batch_size,
        lambda batch: float(trainer.train_step(batch)),
    )
    alone = {
        name: _pairs_per_second(pipeline(augment), args.batches, batch_size)
        for name, augment in chains.items()
    }
    fed = _pairs_per_second(
        pipeline(chains["default chain"]),
        args.steps,
        batch_size,
        lambda batch: float(trainer.train_step(batch)),
    )
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": _commit(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": this_machine().to_dict(),
        "batch_size": batch_size,
        "train_step_pairs_per_second": round(step, 1),
        "pipeline_pairs_per_second": {name: round(value, 1) for name, value in alone.items()},
        "pipeline_vs_train_step": {name: round(value / step, 2) for name, value in alone.items()},
        "train_fed_by_default_chain_pairs_per_second": round(fed, 1),
        "train_fed_vs_fixed_batch": round(fed / step, 3),
        "default_chain": dataclasses.asdict(chains["default chain"]),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"| {'what (batch ' + str(batch_size) + ')':<46} | {'pairs / s':>9} | {'/ step':>6} |")
    print(f"|{'-' * 48}|{'-' * 11}|{'-' * 8}|")
    print(f"| {'MEL_MEL train step, fixed batch':<46} | {step:>9.1f} | {1:>6.2f} |")
    for name, value in alone.items():
        label = f"input pipeline alone, {name}"
        print(f"| {label:<46} | {value:>9.1f} | {value / step:>6.2f} |")
    label = "MEL_MEL training fed by the default chain"
    print(f"| {label:<46} | {fed:>9.1f} | {fed / step:>6.2f} |")
    machine = result["machine"]
    print(describe_machine(machine))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
