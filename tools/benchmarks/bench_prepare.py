"""Preparation benchmark: seconds of music prepared per wall-clock second.

Measured in one run, on the pieces of the default music21 corpus that the demo
prepares (converted to MIDI beforehand and cached, so score parsing is not timed):

* ``render alone``: read each MIDI file with note-seq and render it with
  fluidsynth, nothing else (the least any pipeline from MIDI files to audio does);
* ``naive``: per 3-second clip, render the clip's notes and compute a librosa mel
  (what a first implementation tends to do); it is ten times slower, so it runs
  on the first ``--naive_pieces`` pieces and is compared by throughput;
* the ``tfembed-prepare`` command with 1 and with 2 worker processes, timed as a
  user sees it (start-up included): render once per piece, TensorFlow log-mel,
  piano roll, labels, TFRecords, shards and manifest.

It prints a table and writes JSON. Targets: full preparation at least
0.8x rendering alone, at least 3x the naive pipeline, 2 workers at least 1.7x one.
Peak memory of a worker is reported with the longest piece it held.

Usage:
    python tools/benchmarks/bench_prepare.py [--pieces_per_composer 24] \
        [--out bench_prepare.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tfembed.dataset.manifest import read_manifest
from tfembed.errors import PieceError
from tfembed.features.framegrid import DEFAULT_GRID
from tfembed.features.pianoroll import piano_roll
from tfembed.preparation.corpus import corpus_midi, list_corpus
from tfembed.preparation.midi import clean_sequence, read_midi
from tfembed.preparation.prepare import DEFAULT_MAX_PIECE_SECONDS
from tfembed.preparation.render import find_soundfont, render_sequence


def _midi_files(pieces_per_composer: int) -> list[Path]:
    """Converts the benchmark's scores to MIDI (cached); returns the usable files."""
    files = []
    for piece in list_corpus(pieces_per_composer=pieces_per_composer):
        try:
            files.append(corpus_midi(piece.path))
        except PieceError:
            continue
    return files


def _read(path: Path):
    """Returns the cleaned sequence of a file, or ``None`` if preparation would skip it."""
    try:
        sequence, _ = read_midi(path)
        cleaned = clean_sequence(sequence, DEFAULT_MAX_PIECE_SECONDS).sequence
    except PieceError:
        return None
    return cleaned if cleaned.total_time >= DEFAULT_GRID.clip_seconds else None


def _render_alone(files: list[Path], soundfont: Path) -> tuple[float, list]:
    started = time.perf_counter()
    sequences = []
    for path in files:
        sequence = _read(path)
        if sequence is not None:
            render_sequence(sequence, DEFAULT_GRID, soundfont)
            sequences.append(sequence)
    return time.perf_counter() - started, sequences


def _naive(sequences: list, soundfont: Path) -> float:
    """Renders every clip on its own and computes its mel with librosa."""
    import librosa
    from note_seq import sequences_lib

    grid = DEFAULT_GRID
    librosa.feature.melspectrogram(y=np.zeros(grid.sample_rate, np.float32), sr=grid.sample_rate)
    started = time.perf_counter()
    for sequence in sequences:
        clips = int(sequence.total_time // grid.clip_seconds)
        for index in range(clips):
            start = index * grid.clip_seconds
            clip = sequences_lib.extract_subsequence(sequence, start, start + grid.clip_seconds)
            if not clip.notes:
                continue
            audio = render_sequence(clip, grid, soundfont)[: grid.clip_samples]
            mel = librosa.feature.melspectrogram(
                y=audio,
                sr=grid.sample_rate,
                n_fft=grid.fft_length,
                hop_length=grid.hop_length,
                n_mels=grid.n_mels,
                fmin=grid.fmin,
                fmax=grid.fmax,
                htk=True,
            )
            np.log(mel + grid.log_offset)
            piano_roll(clip, grid, grid.clip_frames)
    return time.perf_counter() - started


def time_prepare(pieces_per_composer: int, workers: int, out: Path, *options: str) -> float:
    """Times ``tfembed-prepare`` on the corpus as a user runs it; returns wall seconds."""
    command = [sys.executable, "-m", "tfembed.cli.prepare", "--corpus", "music21"]
    command += ["--pieces_per_composer", str(pieces_per_composer), "--workers", str(workers)]
    command += ["--out", str(out), *options]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def _prepare(pieces_per_composer: int, workers: int, scratch: Path) -> tuple[float, dict]:
    """Times the ``tfembed-prepare`` command; returns seconds and the manifest."""
    out = scratch / f"workers{workers}"
    seconds = time_prepare(pieces_per_composer, workers, out)
    manifest = read_manifest(out)
    shutil.rmtree(out)
    return seconds, manifest


def main() -> None:
    """Runs the benchmark, prints the table and writes the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pieces_per_composer", type=int, default=24)
    parser.add_argument("--naive_pieces", type=int, default=30)
    parser.add_argument("--out", default="bench_prepare.json")
    args = parser.parse_args()

    soundfont = find_soundfont()
    files = _midi_files(args.pieces_per_composer)
    with tempfile.TemporaryDirectory() as scratch:
        render, sequences = _render_alone(files, soundfont)
        naive_sequences = sequences[: args.naive_pieces]
        naive = _naive(naive_sequences, soundfont)
        full_one, manifest_one = _prepare(args.pieces_per_composer, 1, Path(scratch))
        full_two, manifest_two = _prepare(args.pieces_per_composer, 2, Path(scratch))
    if len(manifest_one["pieces"]) != len(sequences):
        raise SystemExit("the benchmark and tfembed-prepare disagree on the pieces")
    music = sum(sequence.total_time for sequence in sequences)
    naive_music = sum(sequence.total_time for sequence in naive_sequences)
    longest = max(sequence.total_time for sequence in sequences)
    runs = [
        ("render alone: note-seq read + fluidsynth", render, music),
        (
            f"naive: render + librosa mel per clip ({len(naive_sequences)} pieces)",
            naive,
            naive_music,
        ),
        ("tfembed-prepare --workers 1", full_one, music),
        ("tfembed-prepare --workers 2", full_two, music),
    ]
    rows = [
        {
            "pipeline": name,
            "wall_seconds": round(seconds, 2),
            "music_seconds_per_second": round(seconds_of_music / seconds, 1),
        }
        for name, seconds, seconds_of_music in runs
    ]
    ratios = {
        "prepare_1_worker_vs_render_alone": round(render / full_one, 2),
        "prepare_1_worker_vs_naive": round((music / full_one) / (naive_music / naive), 2),
        "prepare_2_workers_vs_1_worker": round(full_one / full_two, 2),
    }
    memory = {
        f"{workers}_workers": max(piece["worker_peak_rss_mb"] for piece in manifest["pieces"])
        for workers, manifest in ((1, manifest_one), (2, manifest_two))
    }
    result = {
        "pieces": len(sequences),
        "music_seconds": round(music, 1),
        "longest_piece_seconds": round(longest, 1),
        "rows": rows,
        "ratios": ratios,
        "worker_peak_rss_mb": memory,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "note": "with --workers 1 the pieces are prepared in the command's own process",
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")

    print(
        f"{len(sequences)} pieces, {music / 60:.1f} min of music, longest {longest:.0f} s, "
        f"{os.cpu_count()} cores"
    )
    print(f"| {'pipeline':<56} | {'wall s':>7} | {'music s / s':>11} |")
    print(f"|{'-' * 58}|{'-' * 9}|{'-' * 13}|")
    for row in rows:
        print(
            f"| {row['pipeline']:<56} | {row['wall_seconds']:>7.1f} | "
            f"{row['music_seconds_per_second']:>11.1f} |"
        )
    for name, value in ratios.items():
        print(f"{name}: {value}x")
    print("worker peak RSS (MiB): " + ", ".join(f"{k} {v}" for k, v in memory.items()))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
