"""Does centring embeddings (subtracting a collection's mean) separate unrelated pieces?

Embeds the test clips of a prepared dataset with shipped models and compares,
raw and centred on the mean of the test collection itself (what a user can do
with their own files):

* the cosine of piece embeddings (mean of a piece's clips): between different
  pieces, between pieces of the same composer and of different composers;
* for clips: the share of (same piece, other piece) pairs ordered right (AUC),
  and the mean rank of each clip's next clip among all other test clips.

Usage: python tools/experiments/similarity_centring.py --data DATA_DIR [--out F.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def _cosines(embeddings: np.ndarray) -> np.ndarray:
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    return unit @ unit.T


def _auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(a positive scores above a negative), ties counted half."""
    ranks = np.concatenate([positive, negative]).argsort().argsort() + 1.0
    high = ranks[: len(positive)].sum() - len(positive) * (len(positive) + 1) / 2
    return float(high / (len(positive) * len(negative)))


def measure(clips: np.ndarray, pieces: np.ndarray, composers: np.ndarray) -> dict[str, float]:
    """Similarity figures of clip embeddings ``clips`` (rows in piece, then clip order)."""
    names = list(dict.fromkeys(pieces))
    piece_rows = np.stack([clips[pieces == name].mean(axis=0) for name in names])
    piece_composer = np.array([composers[pieces == name][0] for name in names])
    similarity = _cosines(piece_rows)
    off = ~np.eye(len(names), dtype=bool)
    same = (piece_composer[:, None] == piece_composer[None, :]) & off
    clip_similarity = _cosines(clips)
    same_piece = pieces[:, None] == pieces[None, :]
    np.fill_diagonal(same_piece, False)
    other = pieces[:, None] != pieces[None, :]
    rng = np.random.default_rng(0)
    negatives = rng.choice(clip_similarity[other], size=20000, replace=False)
    neighbour = [i for i in range(len(clips) - 1) if pieces[i] == pieces[i + 1]]
    ranks = [
        1 + int((np.delete(clip_similarity[i], i) > clip_similarity[i, i + 1]).sum())
        for i in neighbour
    ]
    return {
        "piece_cosine_other_pieces_mean": float(similarity[off].mean()),
        "piece_cosine_other_pieces_min": float(similarity[off].min()),
        "piece_cosine_same_composer_mean": float(similarity[same].mean()),
        "piece_cosine_other_composer_mean": float(similarity[off & ~same].mean()),
        "clip_same_piece_auc": _auc(clip_similarity[same_piece], negatives),
        "clip_next_rank_mean": float(np.mean(ranks)),
        "clips": len(clips),
        "pieces": len(names),
    }


def main() -> None:
    """Runs the measurement; prints a table and writes JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--models", nargs="+", default=["mel_mel", "sym_sym"])
    parser.add_argument("--out", default="similarity_centring.json")
    args = parser.parse_args()
    import tfembed
    from tfembed.dataset.clips import load_clips

    test = list(load_clips(args.data, "test").as_numpy_iterator())
    pieces = np.array([clip["piece_id"].decode() for clip in test])
    composers = np.array([clip["composer"] for clip in test])
    results = {}
    for name in args.models:
        model = tfembed.load(name)
        embedded = model.embed_clips(np.stack([clip[model.domain] for clip in test]))
        results[name] = {
            "raw": measure(embedded, pieces, composers),
            "centred": measure(embedded - embedded.mean(axis=0), pieces, composers),
        }
    keys = list(results[args.models[0]]["raw"])[:-2]
    columns = [(name, kind) for name in results for kind in ("raw", "centred")]
    print(f"{'figure':36s}" + "".join(f" {name + ' ' + kind:>18s}" for name, kind in columns))
    for key in keys:
        cells = "".join(f" {results[name][kind][key]:18.3f}" for name, kind in columns)
        print(f"{key:36s}{cells}")
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
