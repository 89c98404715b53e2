"""Embedding benchmark: clips per second and real-time factor of tfembed-embed, 1 and N workers.

For each kind of input, the same files are embedded with ``--workers 1`` and
``--workers N`` (default 2) in one run, and the ratio of the two is reported:

* MIDI files with the shipped mel_mel (parse, render with fluidsynth, log-mel, model);
* MIDI files with the shipped sym_sym (parse, piano roll, model);
* audio files with mel_mel: the MIDI renderings written as 16-bit WAV at 44.1 kHz
  (decode, resample, log-mel, model).

The real-time factor is seconds of music embedded per second of wall time; the
wall time is that of ``embed_files`` as ``tfembed-embed`` runs it: loading the
SavedModel (TensorFlow already imported) and starting the worker processes included. The MIDI
files are the first ``--pieces`` pieces of a prepared music21 dataset. It prints
a table and writes JSON with the machine's CPU.

Usage: python tools/benchmarks/bench_embed.py --data DATA_DIR [--pieces 40] [--workers 2]
    [--out bench_embed.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import tempfile
import time
from pathlib import Path

from tfembed.utils.machine import describe_machine, this_machine


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


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
    from tfembed.preparation.render import find_soundfont, render_piano

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for path in midi:
        sequence = clean_sequence(read_midi(path)[0], float("inf")).sequence
        samples = render_piano(sequence, DEFAULT_GRID, find_soundfont())
        resampled = librosa.resample(samples, orig_sr=DEFAULT_GRID.sample_rate, target_sr=44100)
        written.append(folder / f"{path.stem}.wav")
        soundfile.write(written[-1], resampled, 44100, subtype="PCM_16")
    return written


def _timed(model: str, inputs: list[Path], out: Path, workers: int, seconds: float) -> dict:
    from tfembed.inference.batch_embed import embed_files
    from tfembed.inference.embedder import Embedder

    embedder = Embedder(model, load=False)  # loaded in the timed run, as tfembed-embed does
    started = time.perf_counter()
    index = embed_files(embedder, inputs, out, workers=workers)
    wall = time.perf_counter() - started
    assert index["failed"] == 0, index
    return {
        "workers": workers,
        "files": index["done"],
        "clips": index["clips"],
        "seconds": round(wall, 2),
        "clips_per_second": round(index["clips"] / wall, 1),
        "real_time_factor": round(seconds / wall, 1),
    }


def main() -> None:
    """Runs the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a prepared music21 dataset")
    parser.add_argument("--pieces", type=int, default=40, help="MIDI files to embed")
    parser.add_argument("--workers", type=int, default=2, help="workers compared with 1")
    parser.add_argument("--out", default="bench_embed.json")
    args = parser.parse_args()

    results: dict[str, object] = {
        "date": datetime.date.today().isoformat(),
        "commit": _commit(),
        "command": f"python tools/benchmarks/bench_embed.py --data DATA --pieces {args.pieces} "
        f"--workers {args.workers}",
        "machine": this_machine().to_dict(),
    }
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
        rows = {}
        for number, (name, (model, inputs, length)) in enumerate(kinds.items()):
            runs = [
                _timed(model, inputs, root / f"out{number}-{workers}", workers, length)
                for workers in (1, args.workers)
            ]
            rows[name] = {
                "input_seconds": round(length, 1),
                "runs": runs,
                "speedup": round(runs[0]["seconds"] / runs[1]["seconds"], 2),
            }
    results["rows"] = rows
    cpu = results["machine"]
    print(describe_machine(cpu))
    columns = ("workers", 7), ("clips", 6), ("seconds", 8), ("clips/s", 8), ("x RT", 7)
    header = "".join(f" {name:>{width}s}" for name, width in columns)
    print(f"{'input':44s}{header} {'speedup':>8s}")
    for name, row in rows.items():
        for run in row["runs"]:
            speedup = f"{row['speedup']:8.2f}" if run["workers"] != 1 else ""
            print(
                f"{name:44s} {run['workers']:7d} {run['clips']:6d} {run['seconds']:8.2f} "
                f"{run['clips_per_second']:8.1f} {run['real_time_factor']:7.1f} {speedup}"
            )
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
