"""Embedding a real audio recording with a shipped mel model's ``embed_audio``.

    python tools/examples/embed_recording.py [recording.wav]

Without an argument it embeds ``test_audio.wav``, a 20-second recording shipped
with music21 (a tfembed dependency). The model's graph peak-normalises the audio,
computes the log-mel exactly as in training and embeds consecutive 3-second
windows; here the audio is resampled to 16 kHz first by ``tfembed.load``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import music21
import numpy as np
import soundfile

import tfembed

RECORDING = Path(music21.__file__).parent / "audioSearch" / "test_audio.wav"


def main(path: str | Path = RECORDING, model: str = "mel_mel") -> np.ndarray:
    """Returns the recording's window embeddings ``[windows, 128]``."""
    samples, rate = soundfile.read(path, dtype="float32")
    embedder = tfembed.load(model)
    result = embedder.embed_audio(samples, rate)  # hop: one clip (3 s)
    unit = result.embedding / np.linalg.norm(result.embedding, axis=1, keepdims=True)
    neighbours = np.sum(unit[1:] * unit[:-1], axis=1)
    print(
        f"{Path(path).name}: {len(samples) / rate:.1f} s at {rate} Hz -> "
        f"{result.embedding.shape[0]} windows x {result.embedding.shape[1]}; "
        f"starts {result.timestamps.tolist()} s; last padded: {bool(result.padded[-1])}; "
        f"cosine of consecutive windows {np.round(neighbours, 3).tolist()}"
    )
    return result.embedding


if __name__ == "__main__":
    main(*sys.argv[1:])
