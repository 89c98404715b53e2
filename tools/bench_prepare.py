"""Preparation benchmark: seconds of music prepared per wall-clock second.

Measured in one run, on the same pieces of the default music21 corpus (converted
to MIDI beforehand, so score parsing is not timed):

* ``render alone``: parse the MIDI and render it with fluidsynth, nothing else;
* ``naive``: per 3-second clip, render the clip's notes and compute a librosa mel
  (what a first implementation tends to do);
* ``tfembed-prepare`` with 1 and with 2 worker processes (the whole pipeline:
  render once per piece, TensorFlow log-mel, piano roll, labels, TFRecords,
  shards and manifest).

It prints a table and writes JSON. Targets (issue #2): full preparation at least
0.8x rendering alone, at least 3x the naive pipeline, 2 workers at least 1.7x one.
Peak memory of a worker is reported with the longest piece it held.

Usage: python tools/bench_prepare.py [--pieces_per_composer 4] [--out bench_prepare.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from tfembed.corpus import corpus_midi, list_corpus
from tfembed.framegrid import DEFAULT_GRID
from tfembed.midi_input import PieceError, read_midi
from tfembed.pianoroll import piano_roll
from tfembed.prepare import DEFAULT_MAX_PIECE_SECONDS, prepare
from tfembed.render import find_soundfont, render_piano
from tfembed.sequences import clean_sequence


def _sequences(pieces_per_composer: int) -> list:
    """Converts (cached) and parses the benchmark pieces; returns their sequences."""
    sequences = []
    for piece in list_corpus(pieces_per_composer=pieces_per_composer):
        try:
            sequence, _ = read_midi(corpus_midi(piece.path))
            cleaned = clean_sequence(sequence, DEFAULT_MAX_PIECE_SECONDS)
        except PieceError:
            continue
        if cleaned.sequence.total_time >= DEFAULT_GRID.clip_seconds:
            sequences.append(cleaned.sequence)
    return sequences


def _render_alone(sequences: list, soundfont: Path) -> float:
    started = time.perf_counter()
    for sequence in sequences:
        render_piano(sequence, DEFAULT_GRID, soundfont)
    return time.perf_counter() - started


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
            audio = render_piano(clip, grid, soundfont)[: grid.clip_samples]
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


def _prepare(pieces_per_composer: int, workers: int, scratch: Path) -> tuple[float, dict]:
    out = scratch / f"workers{workers}"
    started = time.perf_counter()
    manifest = prepare(
        out, corpus="music21", pieces_per_composer=pieces_per_composer, workers=workers
    )
    seconds = time.perf_counter() - started
    shutil.rmtree(out)
    return seconds, manifest


def main() -> None:
    """Runs the benchmark, prints the table and writes the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pieces_per_composer", type=int, default=4)
    parser.add_argument("--out", default="bench_prepare.json")
    args = parser.parse_args()

    soundfont = find_soundfont()
    sequences = _sequences(args.pieces_per_composer)
    music = sum(sequence.total_time for sequence in sequences)
    longest = max(sequence.total_time for sequence in sequences)
    with tempfile.TemporaryDirectory() as scratch:
        timings = {"render alone (1 process)": _render_alone(sequences, soundfont)}
        timings["naive: render + librosa mel per clip (1 process)"] = _naive(sequences, soundfont)
        full_one, manifest_one = _prepare(args.pieces_per_composer, 1, Path(scratch))
        full_two, manifest_two = _prepare(args.pieces_per_composer, 2, Path(scratch))
    timings["tfembed-prepare, 1 worker"] = full_one
    timings["tfembed-prepare, 2 workers"] = full_two
    assert len(manifest_one["pieces"]) == len(sequences), "benchmark and prepare disagree"

    render = timings["render alone (1 process)"]
    naive = timings["naive: render + librosa mel per clip (1 process)"]
    rows = [
        {
            "pipeline": name,
            "wall_seconds": round(seconds, 2),
            "music_seconds_per_second": round(music / seconds, 1),
        }
        for name, seconds in timings.items()
    ]
    ratios = {
        "prepare_1_worker_vs_render_alone": round(render / full_one, 2),
        "prepare_1_worker_vs_naive": round(naive / full_one, 2),
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
        "peak_rss_mb": memory,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "note": "1 worker runs in the calling process, so its peak includes the parent",
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")

    print(
        f"{len(sequences)} pieces, {music / 60:.1f} min of music, longest {longest:.0f} s, "
        f"{os.cpu_count()} cores"
    )
    print(f"| {'pipeline':<52} | {'wall s':>7} | {'music s / s':>11} |")
    print(f"|{'-' * 54}|{'-' * 9}|{'-' * 13}|")
    for row in rows:
        print(
            f"| {row['pipeline']:<52} | {row['wall_seconds']:>7.1f} | "
            f"{row['music_seconds_per_second']:>11.1f} |"
        )
    for name, value in ratios.items():
        print(f"{name}: {value}x")
    print("peak RSS (MiB): " + ", ".join(f"{name} {value}" for name, value in memory.items()))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
