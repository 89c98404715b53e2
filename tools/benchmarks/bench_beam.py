"""Beam benchmark: ``tfembed-prepare --runner beam`` against the local process pool.

Measured in one run, on the default music21 corpus that the demo prepares (scores
converted to MIDI beforehand and cached, so score parsing is not timed): the
``tfembed-prepare`` command with the local pool of ``--workers N`` and with
``--runner beam --workers N`` (DirectRunner, multi-processing mode), each timed as
a user runs it, start-up included. Both outputs are compared record for record.

It prints a table and writes JSON, with the per-piece figures the README's
projections start from: CPU seconds of preparation per second of music and bytes
per clip. Target: Beam at least 0.7x the pool's speed. Peak memory
per worker is the largest ``VmHWM`` any piece recorded in the manifest.

Usage: python tools/benchmarks/bench_beam.py [--pieces_per_composer 24] [--workers 2]
[--out bench_beam.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_prepare import _midi_files, time_prepare

from tfembed.dataset.manifest import read_manifest


def _prepare(pieces_per_composer: int, workers: int, out: Path, beam: bool) -> float:
    """Times the ``tfembed-prepare`` command; returns wall seconds."""
    options = ["--runner", "beam"] if beam else []
    return time_prepare(pieces_per_composer, workers, out, *options)


def _figures(out: Path, wall: float) -> dict:
    """Speed, memory and per-piece figures of one prepared folder."""
    manifest = read_manifest(out)
    pieces = manifest["pieces"]
    music = sum(piece["seconds"] for piece in pieces)
    clips = sum(piece["clips"] for piece in pieces)
    shard_bytes = sum(path.stat().st_size for path in out.glob("*.tfrecord"))
    cpu = sum(piece["processing_seconds"] for piece in pieces)
    return {
        "wall_seconds": round(wall, 1),
        "music_seconds_per_second": round(music / wall, 1),
        "pieces": len(pieces),
        "failed": manifest["counts"]["failed_pieces"],
        "clips": clips,
        "music_seconds": round(music, 1),
        "longest_piece_seconds": max(piece["seconds"] for piece in pieces),
        "peak_worker_rss_mib": max(piece["worker_peak_rss_mb"] for piece in pieces),
        "piece_processing_seconds": round(cpu, 1),
        "processing_seconds_per_music_second": round(cpu / music, 4),
        "bytes_per_clip": round(shard_bytes / clips),
    }


CORPORA = {
    # name: (pieces, seconds of music); assumptions stated in the README.
    "MAESTRO v3 (1,276 performances, ~200 h)": (1276, 200 * 3600),
    "Lakh MIDI (~170,000 files, assumed 3.5 min each)": (170_000, 170_000 * 210),
    "GiantMIDI-Piano (~10,000 pieces, ~1,237 h)": (10_000, 1237 * 3600),
}
DATAFLOW_WORKERS = (16, 64)
VCPUS_PER_WORKER = 4  # n2-standard-4: 4 vCPUs, 16 GB, one SDK process per vCPU
UTILISATION = 0.9  # share of a vCPU a preparing process keeps busy
STARTUP_SECONDS = 300  # Dataflow job start: worker VMs, container pull
FLOP_PER_PAIR = 733e6  # tower forward ~122 MFLOP per clip; two clips, forward and backward
GPU_FLOPS = 10e12  # sustained per GPU (stated assumption)
SCALING_8_GPUS = 0.9
TRAIN_SHARE = 0.8  # the train split's share of the clips
MEASURED_BYTES_PER_CLIP = 55631  # shard bytes per clip of the default corpus (2026-11-25)


def _projections(figures: dict) -> list[dict]:
    """Time and storage to prepare large corpora, and training time per epoch."""
    rows = []
    for name, (pieces, music) in CORPORA.items():
        clips = music / 3
        cpu_hours = music * figures["processing_seconds_per_music_second"] / 3600
        row = {
            "corpus": name,
            "pieces": pieces,
            "music_hours": round(music / 3600),
            "cpu_hours": round(cpu_hours, 1),
            "clips_millions": round(clips / 1e6, 2),
            "storage_gb": round(clips * figures["bytes_per_clip"] / 1e9, 1),
        }
        for workers in DATAFLOW_WORKERS:
            seconds = cpu_hours * 3600 / (workers * VCPUS_PER_WORKER * UTILISATION)
            row[f"dataflow_{workers}_workers_minutes"] = round((seconds + STARTUP_SECONDS) / 60)
        epoch_seconds = clips * TRAIN_SHARE * FLOP_PER_PAIR / GPU_FLOPS
        row["epoch_seconds_1_gpu"] = round(epoch_seconds)
        row["epoch_seconds_8_gpus"] = round(epoch_seconds / 8 / SCALING_8_GPUS)
        rows.append(row)
    return rows


def _identical(first: Path, second: Path) -> bool:
    names = sorted(path.name for path in first.glob("*.tfrecord"))
    if names != sorted(path.name for path in second.glob("*.tfrecord")):
        return False
    return all((first / name).read_bytes() == (second / name).read_bytes() for name in names)


def main() -> None:
    """Runs the benchmark, prints the table and writes the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pieces_per_composer", type=int, default=24)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="bench_beam.json")
    parser.add_argument(
        "--project_only",
        type=float,
        metavar="CPU_S_PER_MUSIC_S",
        help="only print the projections for this cost and the measured bytes per clip",
    )
    args = parser.parse_args()
    if args.project_only:
        figures = {
            "processing_seconds_per_music_second": args.project_only,
            "bytes_per_clip": MEASURED_BYTES_PER_CLIP,
        }
        for row in _projections(figures):
            print(json.dumps(row))
        return

    _midi_files(args.pieces_per_composer)  # converts and caches the scores, untimed
    with tempfile.TemporaryDirectory() as scratch:
        pool_out, beam_out = Path(scratch) / "pool", Path(scratch) / "beam"
        pool = _figures(pool_out, _prepare(args.pieces_per_composer, args.workers, pool_out, False))
        beam = _figures(beam_out, _prepare(args.pieces_per_composer, args.workers, beam_out, True))
        identical = _identical(pool_out, beam_out)
    speed = pool["wall_seconds"] / beam["wall_seconds"]
    rows = [
        (f"tfembed-prepare --workers {args.workers} (local pool)", pool),
        (f"tfembed-prepare --runner beam --workers {args.workers}", beam),
    ]
    print(f"| {'run':<52} | wall s | music s / s | peak MiB / worker |")
    print(f"|{'-' * 54}|--------|-------------|-------------------|")
    for name, row in rows:
        print(
            f"| {name:<52} | {row['wall_seconds']:6.1f} | {row['music_seconds_per_second']:11.1f}"
            f" | {row['peak_worker_rss_mib']:17.0f} |"
        )
    print(f"beam / pool speed: {speed:.2f}x (target >= 0.7); records identical: {identical}")
    print(
        f"per piece: {pool['processing_seconds_per_music_second']:.4f} CPU s per s of music, "
        f"{pool['bytes_per_clip']} bytes per clip"
    )
    projections = _projections(pool)
    for row in projections:
        print(json.dumps(row))
    result = {
        "machine": {"cpus": os.cpu_count(), "cpu": platform.processor() or platform.machine()},
        "pieces_per_composer": args.pieces_per_composer,
        "workers": args.workers,
        "pool": pool,
        "beam": beam,
        "beam_over_pool_speed": round(speed, 3),
        "records_identical": identical,
        "projections": projections,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
