"""Embedding benchmark: clips per second of tfembed-embed on this machine.

* the model alone: ``Embedder.embed_clips`` on batches of 64 clips, mel and roll
  towers (full width, the base config);
* MIDI files end to end with a mel model (parse, render, log-mel, model) and with
  a roll model (parse, piano roll, model);
* audio files end to end (decode with tensorflow-io, log-mel, model): the MIDI
  renderings written as 16-bit WAV at 44.1 kHz, so resampling is included.

The models are those of a short training run on ``--data`` (``--steps`` steps,
weights barely trained: speed does not depend on them), the MIDI files are the
dataset's pieces. It prints a table and writes JSON.

Usage: python tools/benchmarks/bench_embed.py --data DATA_DIR [--pieces 8] [--out bench_embed.json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def _midi_files(data: str, count: int) -> list[Path]:
    from tfembed.dataset.manifest import read_manifest

    files = []
    for piece in read_manifest(data)["pieces"][:count]:
        if Path(piece["file"]).is_file():
            files.append(Path(piece["file"]))
        else:
            from tfembed.preparation.corpus import corpus_midi

            files.append(corpus_midi(piece["file"]))
    return files


def _export_models(data: str, steps: int, root: Path) -> dict[str, Path]:
    from tfembed.cli.export import main as export_main
    from tfembed.cli.train import main as train_main

    run = root / "run"
    argv = ["--config", "mel_sym.gin", "--gin_param", f"train.steps = {steps}"]
    argv += ["--gin_param", "train.validate_every = 1000000"]
    assert train_main([*argv, "--data", data, "--model_dir", str(run)]) == 0
    models = {"mel": root / "mel", "roll": root / "roll"}
    for domain, tower in (("mel", "first"), ("roll", "second")):
        args = ["--model_dir", str(run), "--out", str(models[domain]), "--tower", tower]
        assert export_main(args) == 0
    return models


def _timed_embed(saved_model: Path, inputs: list[Path], out: Path) -> dict[str, float]:
    from tfembed.inference.batch_embed import embed_files
    from tfembed.inference.embedder import Embedder

    embedder = Embedder(saved_model)
    started = time.perf_counter()
    index = embed_files(embedder, [str(path) for path in inputs], out, None)
    seconds = time.perf_counter() - started
    assert index["failed"] == 0, index
    return {
        "files": index["done"],
        "clips": index["clips"],
        "seconds": round(seconds, 2),
        "clips_per_second": round(index["clips"] / seconds, 1),
    }


def _model_only(saved_model: Path, clips: int) -> dict[str, float]:
    import numpy as np

    from tfembed.inference.embedder import Embedder

    embedder = Embedder(saved_model)
    batch = np.random.default_rng(0).normal(-6, 2, [clips, 192, 96]).astype(np.float32)
    embedder.embed_clips(batch[:64])  # warm-up
    started = time.perf_counter()
    embedder.embed_clips(batch)
    seconds = time.perf_counter() - started
    return {
        "clips": clips,
        "seconds": round(seconds, 2),
        "clips_per_second": round(clips / seconds, 1),
    }


def main() -> None:
    """Runs the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True, help="a prepared dataset")
    parser.add_argument("--pieces", type=int, default=8, help="MIDI files to embed")
    parser.add_argument("--steps", type=int, default=2, help="training steps of the models")
    parser.add_argument("--clips", type=int, default=512, help="clips for the model-only rate")
    parser.add_argument("--out", default="bench_embed.json")
    args = parser.parse_args()

    import soundfile

    from tfembed.features.framegrid import DEFAULT_GRID
    from tfembed.preparation.midi import clean_sequence, read_midi
    from tfembed.preparation.render import find_soundfont, render_piano

    results: dict[str, object] = {"cpu_count": os.cpu_count(), "batch_size": 64}
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        models = _export_models(args.data, args.steps, root)
        midi = _midi_files(args.data, args.pieces)
        audio = []
        import librosa

        for path in midi:
            sequence = clean_sequence(read_midi(path)[0], float("inf")).sequence
            samples = render_piano(sequence, DEFAULT_GRID, find_soundfont())
            resampled = librosa.resample(samples, orig_sr=16000, target_sr=44100)
            audio.append(root / "audio" / f"{path.stem}.wav")
            audio[-1].parent.mkdir(exist_ok=True)
            soundfile.write(audio[-1], resampled, 44100, subtype="PCM_16")
        rows = {
            "model only, mel tower": _model_only(models["mel"], args.clips),
            "model only, roll tower": _model_only(models["roll"], args.clips),
            "MIDI -> mel model (render, log-mel)": _timed_embed(models["mel"], midi, root / "o1"),
            "MIDI -> roll model (piano roll)": _timed_embed(models["roll"], midi, root / "o2"),
            "WAV 44.1 kHz -> mel model": _timed_embed(models["mel"], audio, root / "o3"),
        }
    results["rows"] = rows
    print(f"{'path':40s} {'clips':>6s} {'seconds':>8s} {'clips/s':>8s}")
    for name, row in rows.items():
        print(f"{name:40s} {row['clips']:6d} {row['seconds']:8.2f} {row['clips_per_second']:8.1f}")
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
