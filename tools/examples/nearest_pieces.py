"""Nearest-neighbour search over a folder of MIDI files with a shipped model.

    tfembed-embed --saved_model sym_sym midi/ --out midi_embeddings
    python tools/examples/nearest_pieces.py midi_embeddings

``tfembed-embed`` writes one ``.npz`` per file with ``piece_embedding`` (the mean
of the file's clip embeddings) and ``index.json``; this ranks every piece's
neighbours by cosine similarity and prints the nearest one of each.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def nearest(out: str | Path) -> dict[str, tuple[str, float]]:
    """Each embedded file's nearest other file and their cosine similarity."""
    out = Path(out)
    index = json.loads((out / "index.json").read_text())
    done = [entry for entry in index["files"] if entry["status"] == "done"]
    names = [Path(entry["input"]).name for entry in done]
    vectors = np.stack([np.load(out / entry["output"])["piece_embedding"] for entry in done])
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    best = similarity.argmax(axis=1)
    found = {names[i]: (names[j], float(similarity[i, j])) for i, j in enumerate(best)}
    for name, (neighbour, cosine) in found.items():
        print(f"{name:32s} -> {neighbour:32s} cosine {cosine:.3f}")
    return found


if __name__ == "__main__":
    nearest(sys.argv[1])
