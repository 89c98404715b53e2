"""Writes the golden outputs of the shipped models: tests/golden/{clips,embeddings}.npz.

Run by ``tools/release/build_models.sh`` after export:

    python tools/release/golden_outputs.py --data runs/shipped/data --models saved_models \
        --out tests/golden mel_mel sym_sym mel_sym sym_mel

``clips.npz`` holds a few real test clips of the prepared corpus (``mel`` float16
and ``roll`` uint8, as stored in the TFRecords, one clip from each of the first
test pieces); ``embeddings.npz`` holds each model's ``serve`` output for them
(``NAME``), or each tower's of a joint export (``NAME.mel``, ``NAME.roll``).
``tests/test_shipped_models.py`` and ``tests/plain_tf_check.py`` compare against
them (atol 1e-5), so any silent drift fails the tests. Rewrite them only together
with the models. A model built on its own adds its outputs for the same clips:

    python tools/release/golden_outputs.py --add --models saved_models --out tests/golden joint
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from tfembed.dataset.clips import load_clips
from tfembed.export.format import export_domains
from tfembed.inference.embedder import Embedder
from tfembed.utils.atomic import write_npz_atomically

GOLDEN_PIECES = 4


def golden_clips(data: Path, pieces: int = GOLDEN_PIECES) -> dict[str, np.ndarray]:
    """The middle clip of each of the first ``pieces`` test pieces, with its piece id."""
    by_piece: dict[str, list[dict[str, np.ndarray]]] = {}
    for clip in load_clips(data, "test").as_numpy_iterator():
        piece = clip["piece_id"].decode()
        if piece not in by_piece and len(by_piece) == pieces:
            break
        by_piece.setdefault(piece, []).append(clip)
    chosen = [clips[len(clips) // 2] for clips in by_piece.values()]
    return {
        "mel": np.stack([np.asarray(clip["mel"], np.float16) for clip in chosen]),
        "roll": np.stack([np.asarray(clip["roll"], np.uint8) for clip in chosen]),
        "piece_id": np.array([clip["piece_id"].decode() for clip in chosen]),
        "clip_index": np.array([int(clip["clip_index"]) for clip in chosen]),
    }


def model_input(clips: dict[str, np.ndarray], domain: str) -> np.ndarray:
    """The float32 input of a model of ``domain``."""
    return clips[domain].astype(np.float32)


def golden_keys(name: str, metadata: dict) -> dict[str, str | None]:
    """A model's keys in ``embeddings.npz`` -> the domain a joint export is asked for.

    ``{NAME: None}`` for a one-tower model; ``{NAME.mel: "mel", NAME.roll: "roll"}``
    for a joint export.
    """
    domains = export_domains(metadata)
    if len(domains) == 1:
        return {name: None}
    return {f"{name}.{domain}": domain for domain in domains}


def main(argv: list[str] | None = None) -> int:
    """Writes clips.npz and embeddings.npz."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="the prepared corpus the clips come from")
    parser.add_argument(
        "--add",
        action="store_true",
        help="keep --out's clips and the other models' outputs; (re)write these models' only",
    )
    parser.add_argument("--models", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("names", nargs="+")
    args = parser.parse_args(argv)
    if args.add:
        clips = dict(np.load(args.out / "clips.npz"))
        embeddings = {
            key: value
            for key, value in np.load(args.out / "embeddings.npz").items()
            if key.split(".")[0] not in args.names
        }
    elif args.data is None:
        parser.error("--data is required unless --add")
    else:
        clips, embeddings = golden_clips(args.data), {}
    for name in args.names:
        model = Embedder(args.models / name)
        for key, domain in golden_keys(name, model.metadata).items():
            embeddings[key] = model.embed_clips(model_input(clips, domain or model.domain), domain)
    args.out.mkdir(parents=True, exist_ok=True)
    write_npz_atomically(args.out / "clips.npz", clips)
    write_npz_atomically(args.out / "embeddings.npz", embeddings)
    print(f"golden outputs of {', '.join(args.names)} written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
