"""Training benchmark: the step's pairs per second and its share of the CPU's matmul peak.

In one process, in interleaved rounds (every round times the float32 matmul and
each variant once; the spread over rounds is reported):

* the CPU model, its vector flags and oneDNN's ISA cap (``ONEDNN_MAX_CPU_ISA``,
  e.g. ``AVX2`` to run AVX2 kernels on an AVX-512 CPU), TensorFlow's float32
  matmul GFLOP/s, and bfloat16's where the CPU has it natively;
* the tower's FLOPs per training pair (counted from its layers, checked against
  TensorFlow's profiler);
* for each variant (the four shipped configs, and MEL_MEL with one lever changed
  at a time), the training step's pairs/s on a real batch and its share of the
  float32 matmul peak of the same round;
* the input pipeline alone (pairs read, parsed, shuffled and batched).

``--profile`` adds where the shipped MEL_MEL step's time goes (a ``tf.profiler``
trace, ops grouped: convolutions, batch norm, pooling, feature workers, ...).
Optional, each in child processes alternated twice: ``--scheduling``, the cost
of deterministic training (one op at a time); ``--memory``, peak resident memory
of a short run on the dataset and on one four times larger.

It prints a table and writes JSON (``--out``).

Usage: python tools/benchmarks/bench_train.py --data DATA_DIR [--steps 8] [--rounds 3]
       [--out bench_train.json] [--scheduling] [--memory]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import shlex
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from unittest import mock

REPOSITORY = Path(__file__).resolve().parents[2]
SHIPPED = ("MEL_MEL", "SYM_SYM", "MEL_SYM", "SYM_MEL")


@dataclasses.dataclass(frozen=True)
class Variant:
    """A row: a shipped config, optionally with one lever changed."""

    name: str
    config: str
    changes: dict = dataclasses.field(default_factory=dict)
    keras_batch_norm: bool = False


VARIANTS = (
    Variant("MEL_MEL (mel_mel.gin)", "mel_mel.gin"),
    Variant("MEL_MEL, Keras unfused batch norm", "mel_mel.gin", keras_batch_norm=True),
    Variant("MEL_MEL, no feature workers", "mel_mel.gin", {"feature_workers": 0.0}),
    Variant("MEL_MEL, batch 64", "mel_mel.gin", {"batch_size": 64}),
    Variant("MEL_MEL, norm before pool", "mel_mel.gin", {"pool_before_norm": False}),
    Variant("MEL_MEL, input norm with affine", "mel_mel.gin", {"input_norm_affine": True}),
    Variant(
        "MEL_MEL, the paper's tower layout",
        "mel_mel.gin",
        {"pool_before_norm": False, "input_norm_affine": True},
    ),
    Variant("SYM_SYM (sym_sym.gin)", "sym_sym.gin"),
    Variant("MEL_SYM (mel_sym.gin)", "mel_sym.gin"),
    Variant("SYM_MEL (sym_mel.gin)", "sym_mel.gin"),
)


def _config(variant: Variant):
    from tfembed.training.config import TrainConfig
    from tfembed.training.configs import parse_configs

    parse_configs([variant.config], [])
    return dataclasses.replace(TrainConfig(), **variant.changes)


def _trainer(variant: Variant, grid):
    """The variant's Trainer; with ``keras_batch_norm`` the towers use Keras's own layer."""
    import keras

    from tfembed.models import towers
    from tfembed.training.trainer import Trainer

    patch = (
        mock.patch.object(towers, "FusedBatchNormalization", keras.layers.BatchNormalization)
        if variant.keras_batch_norm
        else contextlib.nullcontext()
    )
    with patch:
        return Trainer(_config(variant), grid)


def _batches(data: str, config):
    """The training pairs of a config's variant, batched (the train split)."""
    from tfembed.dataset.manifest import open_dataset
    from tfembed.dataset.pairs import neighbour_pairs
    from tfembed.models.siamese import variant_spec

    spec = variant_spec(config.variant)
    return neighbour_pairs(
        open_dataset(data), "train", spec.first, spec.second, config.batch_size, seed=config.seed
    )


def _step_measure(data: str, variant: Variant, steps: int):
    """A warmed-up variant: returns (config, trainer, a callable measuring pairs/s)."""
    from tfembed.dataset.manifest import open_dataset
    from tfembed.training.benchmark import pairs_per_second

    trainer = _trainer(variant, open_dataset(data).grid)
    config = trainer.config
    batch = next(iter(_batches(data, config)))
    for _ in range(3):
        trainer.train_step(batch)
    return (
        config,
        trainer,
        lambda: pairs_per_second(lambda: trainer.train_step(batch), steps, config.batch_size),
    )


def _pipeline_throughput(data: str, batches: int) -> float:
    from tfembed.dataset.manifest import open_dataset
    from tfembed.dataset.pairs import neighbour_pairs

    iterator = iter(neighbour_pairs(open_dataset(data), "train", "mel", "mel", 32, seed=0))
    next(iterator)
    started = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * 32 / (time.perf_counter() - started)


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
    _, _, measure = _step_measure(data, VARIANTS[0], steps)
    pairs_per_second = measure()
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


def _scheduling(data: str, steps: int) -> dict:
    runs: dict[str, list[float]] = {"parallel": [], "one_at_a_time": []}
    for _ in range(2):
        for name, one_at_a_time in (("parallel", False), ("one_at_a_time", True)):
            runs[name].append(_train_child(data, steps, one_at_a_time)["pairs_per_second"])
    return {
        "mel_mel_pairs_per_second": runs,
        "deterministic_step_time_ratio": round(
            sum(runs["parallel"]) / sum(runs["one_at_a_time"]), 3
        ),
    }


def _memory(data: str, steps: int) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        larger = _four_times_larger(data, Path(scratch))
        return {
            name: {key: child[key] for key in ("peak_rss_mb", "clips")}
            for name, child in (
                ("dataset", _train_child(data, steps)),
                ("4x dataset", _train_child(larger, steps)),
            )
        }


def _commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(REPOSITORY), *args], capture_output=True, text=True
        ).stdout.strip()

    commit = git("rev-parse", "--short=12", "HEAD")
    return commit + ("+modified" if git("status", "--porcelain", "--untracked-files=no") else "")


def _rounded(values: dict, digits: int = 1) -> dict:
    return {key: round(value, digits) for key, value in values.items()}


def run(args: argparse.Namespace) -> dict:
    """Measures everything in this process; returns the JSON-ready result."""
    import tensorflow as tf

    from tfembed.training.benchmark import (
        Rounds,
        forward_flops,
        matmul_gflops,
        profile_ops,
        profiler_forward_flops,
        training_flops_per_pair,
    )
    from tfembed.training.determinism import run_ops_one_at_a_time
    from tfembed.utils.machine import this_machine

    run_ops_one_at_a_time()  # as tfembed-train does (train.deterministic)
    machine = this_machine()
    entries = {"matmul float32": lambda: matmul_gflops(tf.float32)}
    if machine.native_bf16:
        entries["matmul bfloat16"] = lambda: matmul_gflops(tf.bfloat16)
    rows, flops, profile = [], {}, {}
    for variant in VARIANTS:
        config, trainer, measure = _step_measure(args.data, variant, args.steps)
        first, second = trainer.model.first_tower, trainer.model.second_tower
        per_pair = training_flops_per_pair(first, second)
        if not flops:
            flops = {
                "forward_per_clip": forward_flops(first),
                "profiler_forward_per_clip_all_ops": profiler_forward_flops(first),
                "training_per_pair": per_pair,
            }
        entries[variant.name] = measure
        if args.profile and variant is VARIANTS[0]:
            batch = next(iter(_batches(args.data, config)))
            with tempfile.TemporaryDirectory() as log_dir:
                profile = profile_ops(partial(trainer.train_step, batch), args.steps, log_dir)
        rows.append(
            {
                "name": variant.name,
                "variant": config.variant,
                "config": variant.config,
                "changes": variant.changes,
                "batch_norm": "keras" if variant.keras_batch_norm else "fused",
                "batch_size": config.batch_size,
                "feature_workers": config.feature_workers,
                "training_gflop_per_pair": round(per_pair / 1e9, 4),
            }
        )
    rounds = Rounds()
    rounds.run(entries, args.rounds)
    peak = rounds.summary("matmul float32")
    for row in rows:
        pairs = rounds.values[row["name"]]
        rounds.values[row["name"] + " GFLOP/s"] = [
            value * row["training_gflop_per_pair"] for value in pairs
        ]
        row["pairs_per_second"] = _rounded(rounds.summary(row["name"]))
        row["step_gflops"] = round(rounds.summary(row["name"] + " GFLOP/s")["median"], 1)
        row["fraction_of_fp32_peak"] = _rounded(
            rounds.ratio(row["name"] + " GFLOP/s", "matmul float32"), 3
        )
    pipeline = _pipeline_throughput(args.data, 100)
    result = {
        "benchmark": "bench_train",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
        "commit": _commit(),
        "command": shlex.join(["python", "tools/benchmarks/bench_train.py", *sys.argv[1:]]),
        "machine": machine.to_dict(),
        "rounds": args.rounds,
        "steps_per_measure": args.steps,
        "peak_gflops": {
            "float32": _rounded(peak),
            "bfloat16": _rounded(rounds.summary("matmul bfloat16"))
            if "matmul bfloat16" in rounds.values
            else None,
        },
        "flops": flops,
        "rows": rows,
        "pipeline_pairs_per_second": round(pipeline, 1),
    }
    if profile:
        result["profile_ms_per_step"] = {
            "variant": VARIANTS[0].name,
            **{name: round(value, 1) for name, value in profile.items()},
        }
    if args.scheduling:
        result["scheduling"] = _scheduling(args.data, args.steps)
    if args.memory:
        result["peak_rss_mb"] = _memory(args.data, args.steps)
    return result


def _print(result: dict) -> None:
    machine = result["machine"]
    cap = f", oneDNN ISA cap {machine['onednn_isa']}" if machine["onednn_isa"] else ""
    print(
        f"{machine['cpu_model']}, {machine['cores']} cores, flags {' '.join(machine['flags'])}{cap}"
    )
    peak = result["peak_gflops"]
    print(
        f"matmul float32: {peak['float32']['median']:.0f} GFLOP/s "
        f"({peak['float32']['min']:.0f}-{peak['float32']['max']:.0f})"
        + (
            f"; bfloat16: {peak['bfloat16']['median']:.0f} GFLOP/s"
            if peak["bfloat16"]
            else "; bfloat16: not native here"
        )
    )
    flops = result["flops"]
    print(
        f"tower: {flops['forward_per_clip'] / 1e6:.1f} MFLOP forward per clip (profiler, all ops: "
        f"{flops['profiler_forward_per_clip_all_ops'] / 1e6:.1f}); "
        f"{flops['training_per_pair'] / 1e9:.3f} GFLOP per training pair"
    )
    print(f"| {'variant':<36} | {'pairs/s (min-max)':>19} | {'GFLOP/s':>7} | {'of peak':>7} |")
    print(f"|{'-' * 38}|{'-' * 21}|{'-' * 9}|{'-' * 9}|")
    for row in result["rows"]:
        pairs = row["pairs_per_second"]
        spread = f"{pairs['median']:.1f} ({pairs['min']:.0f}-{pairs['max']:.0f})"
        share = f"{row['fraction_of_fp32_peak']['median']:.0%}"
        print(f"| {row['name']:<36} | {spread:>19} | {row['step_gflops']:>7.1f} | {share:>7} |")
    print(f"input pipeline alone: {result['pipeline_pairs_per_second']:.1f} pairs/s")
    if "profile_ms_per_step" in result:
        profile = dict(result["profile_ms_per_step"])
        print(f"where the step of {profile.pop('variant')} goes ({profile['step']:.0f} ms):")
        step = profile.pop("step")
        for name, milliseconds in sorted(profile.items(), key=lambda item: -item[1]):
            print(f"  {name:<38} {milliseconds:7.1f} ms  {milliseconds / step:6.1%}")
    if "scheduling" in result:
        ratio = result["scheduling"]["deterministic_step_time_ratio"]
        print(f"deterministic training (one op at a time): step time x{ratio} of the default")
    for name, memory in result.get("peak_rss_mb", {}).items():
        print(
            f"peak RSS training on {name} ({memory['clips']} clips): "
            f"{memory['peak_rss_mb']:.0f} MiB"
        )


def main() -> None:
    """Runs the benchmark, prints the table and writes the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--steps", type=int, default=8, help="steps per measure")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="bench_train.json")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--scheduling", action="store_true")
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--one_op_at_a_time", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.data, args.steps, args.one_op_at_a_time)
        return
    result = run(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    _print(result)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
