"""Embedding benchmark: clips per second and real-time factor of tfembed-embed, 1 and N workers.

For each kind of input, the same files are embedded with ``--workers 1`` and
``--workers N`` (default 2) in one run, and the ratio of the two is reported:

* MIDI files with the shipped mel_mel (parse, render with fluidsynth, log-mel, model);
* MIDI files with the shipped sym_sym (parse, piano roll, model);
* audio files with mel_mel: the MIDI renderings written as 16-bit WAV at 44.1 kHz
  (decode, resample, log-mel, model).

The real-time factor is seconds of music embedded per second of wall time; the
wall time is that of ``embed_files`` as ``tfembed-embed`` runs it: loading the
SavedModel (TensorFlow already imported) and starting the worker processes included.
The CPU seconds of this process (log-mel of MIDI renderings, the model) and of
the workers (parsing, rendering, decoding, starting up) say how busy the cores
were: a run that keeps every core busy is only made faster by less work. The
speedup limit by CPU is what N workers would reach if they spread the CPU
seconds of one worker over every core and added none (one worker already
keeps more than one core busy while TensorFlow runs). The MIDI
files are the first ``--pieces`` pieces of a prepared music21 dataset. It prints
a table and writes JSON with the machine's CPU.

Each row is the median of ``--rounds`` runs; the rounds alternate 1 and N workers,
so that both see the same load from other processes.

Usage: python tools/benchmarks/bench_embed.py --data DATA_DIR [--pieces 40] [--workers 2]
    [--rounds 1] [--out bench_embed.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tfembed.results.summary import head_commit, provenance
from tfembed.utils.machine import describe_machine


def _midi_files(data: str, count: int) -> list[Path]:
    from tfembed.dataset.manifest import read_manifest
    from tfembed.preparation.corpus import corpus_midi

    pieces = read_manifest(data)["pieces"][:count]
    files = [Path(piece["file"]) for piece in pieces]
    return [path if path.is_file() else corpus_midi(str(path)) for path in files]


def _midi_seconds(path: Path) -> float:
    import mido

    return float(mido.MidiFile(str(path)).length)


def _audio_files(midi: list[Path], folder: Path) -> list[Path]:
    """The MIDI files rendered as the models' preparation renders them, as 44.1 kHz WAV."""
    import librosa
    import soundfile

    from tfembed.features.framegrid import DEFAULT_GRID
    from tfembed.preparation.midi import clean_sequence, read_midi
    from tfembed.preparation.render import find_soundfont, render_sequence

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for path in midi:
        sequence = clean_sequence(read_midi(path)[0], float("inf")).sequence
        samples = render_sequence(sequence, DEFAULT_GRID, find_soundfont())
        resampled = librosa.resample(samples, orig_sr=DEFAULT_GRID.sample_rate, target_sr=44100)
        written.append(folder / f"{path.stem}.wav")
        soundfile.write(written[-1], resampled, 44100, subtype="PCM_16")
    return written


def _timed(model: str, inputs: list[Path], out: Path, workers: int, seconds: float) -> dict:
    from tfembed.inference.batch_embed import embed_files
    from tfembed.inference.embedder import Embedder

    embedder = Embedder(model, load=False)  # loaded in the timed run, as tfembed-embed does
    before = _cpu_seconds()
    started = time.perf_counter()
    index = embed_files(embedder, inputs, out, workers=workers)
    wall = time.perf_counter() - started
    parent, children = (now - then for now, then in zip(_cpu_seconds(), before, strict=True))
    shutil.rmtree(out)
    assert index["failed"] == 0, index
    return {
        "files": index["done"],
        "clips": index["clips"],
        "seconds": round(wall, 2),
        "clips_per_second": round(index["clips"] / wall, 1),
        "real_time_factor": round(seconds / wall, 1),
        "cpu_seconds_parent": round(parent, 1),
        "cpu_seconds_workers": round(children, 1),
        "cores_busy": round((parent + children) / wall, 2),
    }


def _cpu_seconds() -> tuple[float, float]:
    """CPU seconds (user and system) of this process and of its finished child processes."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def _measure(kinds: dict, workers: int, rounds: int, root: Path) -> list[dict]:
    """One row per input kind and worker count: the round of median time.

    Rounds alternate 1 and ``workers`` workers, so both see the same load.
    """
    rows = []
    cores = len(os.sched_getaffinity(0))
    for number, (name, (model, inputs, length)) in enumerate(kinds.items()):
        runs: dict[int, list[dict]] = {1: [], workers: []}
        for _ in range(rounds):
            for count in runs:
                out = root / f"out{number}-{count}"
                runs[count].append(_timed(model, inputs, out, count, length))
        medians = {
            count: sorted(timed, key=lambda run: run["seconds"])[len(timed) // 2]
            for count, timed in runs.items()
        }
        one = medians[1]
        # One worker's CPU seconds spread over every core, nothing added:
        limit = one["seconds"] * cores / (one["cpu_seconds_parent"] + one["cpu_seconds_workers"])
        for count, run in medians.items():
            rows.append(
                {
                    "input": name,
                    "workers": count,
                    **run,
                    "input_seconds": round(length, 1),
                    "speedup_vs_1_worker": round(one["seconds"] / run["seconds"], 2),
                    "speedup_limit_by_cpu": round(limit, 2),
                }
            )
    return rows


def main() -> None:
    """Runs the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a prepared music21 dataset")
    parser.add_argument("--pieces", type=int, default=40, help="MIDI files to embed")
    parser.add_argument("--workers", type=int, default=2, help="workers compared with 1")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each (median kept)")
    parser.add_argument("--out", default="bench_embed.json")
    args = parser.parse_args()

    command = shlex.join(["python", "tools/benchmarks/bench_embed.py", *sys.argv[1:]])
    results = provenance(command, head_commit(Path(__file__).parent))
    results["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        midi = _midi_files(args.data, args.pieces)
        audio = _audio_files(midi, root / "audio")
        seconds = sum(_midi_seconds(path) for path in midi)
        import soundfile

        audio_seconds = sum(soundfile.info(str(path)).duration for path in audio)
        kinds = {
            "MIDI -> mel_mel (render, log-mel)": ("mel_mel", midi, seconds),
            "MIDI -> sym_sym (piano roll)": ("sym_sym", midi, seconds),
            "WAV 44.1 kHz -> mel_mel (decode, resample)": ("mel_mel", audio, audio_seconds),
        }
        results.update(pieces=len(midi), rounds=args.rounds)
        results["rows"] = _measure(kinds, args.workers, args.rounds, root)
    print(describe_machine(results["machine"]))
    columns = ("workers", 7), ("clips", 6), ("seconds", 8), ("clips/s", 8), ("x RT", 7)
    columns += ("speedup", 8), ("limit", 6), ("cpu s", 6), ("busy", 5)
    header = "".join(f" {name:>{width}s}" for name, width in columns)
    print(f"{'input':44s}{header}")
    for row in results["rows"]:
        cpu = row["cpu_seconds_parent"] + row["cpu_seconds_workers"]
        print(
            f"{row['input']:44s} {row['workers']:7d} {row['clips']:6d} {row['seconds']:8.2f} "
            f"{row['clips_per_second']:8.1f} {row['real_time_factor']:7.1f} "
            f"{row['speedup_vs_1_worker']:8.2f} {row['speedup_limit_by_cpu']:6.2f} {cpu:6.1f} "
            f"{row['cores_busy']:5.2f}"
        )
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
