"""Peak memory of embedding long audio files: whole (one graph call) against in chunks.

Writes 44.1 kHz stereo WAV files of several lengths, embeds each in a child
process with ``Embedder.embed_audio_file`` (files over 10 minutes go through
:mod:`tfembed.inference.long_audio`) and, for comparison, with the whole file
decoded and passed to the export's ``audio_windows`` graph at once; prints a
table of peak resident memory and writes JSON.

Usage: python tools/benchmarks/bench_long_audio.py --saved_model DIR [--minutes 5 20 60] [--out F]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import resource, sys, time
import numpy as np
import tfembed
from tfembed.inference.audio import read_audio
model = tfembed.load(sys.argv[1])
started = time.perf_counter()
if sys.argv[3] == "chunks":
    result = model.embed_audio_file(sys.argv[2])
else:
    audio = read_audio(sys.argv[2], model.sample_rate)
    result = model.embed_prepared_audio(audio, model.grid.clip_frames)
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(len(result.embedding), round(seconds, 1), round(peak))
"""


def _write_wav(path: Path, minutes: float) -> None:
    import numpy as np
    import soundfile

    rate = 44100
    with soundfile.SoundFile(path, "w", rate, 2, subtype="PCM_16") as stream:
        rng = np.random.default_rng(0)
        for _ in range(int(minutes)):
            pitch = rng.uniform(200, 900, rate * 60)
            tone = 0.3 * np.sin(2 * np.pi * np.cumsum(pitch) / rate)
            stream.write(np.stack([tone, 0.5 * tone], axis=1))


def main() -> None:
    """Runs the benchmark, prints the table and writes the JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--saved_model", required=True, help="a mel export")
    parser.add_argument("--minutes", type=float, nargs="+", default=[5, 20, 60])
    parser.add_argument("--out", default="bench_long_audio.json")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for minutes in args.minutes:
            path = Path(folder) / f"{minutes:g}min.wav"
            _write_wav(path, minutes)
            for mode in ("whole", "chunks"):
                command = [sys.executable, "-c", CHILD, args.saved_model, str(path), mode]
                output = subprocess.run(command, capture_output=True, text=True, check=True)
                clips, seconds, peak = output.stdout.split()[-3:]
                rows.append(
                    {
                        "minutes": minutes,
                        "mode": mode,
                        "clips": int(clips),
                        "seconds": float(seconds),
                        "peak_rss_mb": int(float(peak)),
                    }
                )
                print(rows[-1], flush=True)
    print("| minutes | mode | clips | seconds | peak RSS MiB |\n|---:|---|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['minutes']:g} | {row['mode']} | {row['clips']} | {row['seconds']} "
            f"| {row['peak_rss_mb']} |"
        )
    Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
