"""How well each space of a joint export finds a clip across renderings.

A joint export built with features from other runs (``tfembed-export
--features_from``) has two mel networks: its shared-space mel tower
(``serve_mel``, what ``embed_audio`` and ``tfembed-embed`` use) and the
within-domain features (``features_mel``). ``tfembed-eval --renderings`` scores
the features; this scores both, the same way: each test clip rendered with
another soundfont as the query, the whole test split in the reference rendering
as the gallery, the clip's own reference rendering to be found.

Usage: python tools/experiments/joint_spaces_robustness.py --data DATA_DIR
    --saved_model saved_models/joint --renderings A,B [--out F.json]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import tfembed
from tfembed.dataset.clips import load_clips
from tfembed.evaluation.robustness import gallery_ranks, retrieval_summary
from tfembed.utils.atomic import write_json_atomically

SIGNATURES = {"serve_mel": False, "features_mel": True}
"""Each mel signature, and whether it is the within-domain one (``embed_clips``'s flag)."""
BATCH = 256


def _test_mel_clips(data: str, rendering: str | int) -> np.ndarray:
    clips = load_clips(data, "test", rendering).map(lambda clip: clip["mel"]).batch(BATCH)
    return np.concatenate([batch.numpy() for batch in clips]).astype(np.float32)


def main() -> None:
    """Prints each rendering's same-clip retrieval in both spaces; writes JSON with ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--saved_model", required=True)
    parser.add_argument("--renderings", required=True, help="comma-separated rendering names")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    model = tfembed.load(args.saved_model)

    def embed(clips: np.ndarray, signature: str) -> np.ndarray:
        return model.embed_clips(clips, "mel", within_domain=SIGNATURES[signature])

    reference = _test_mel_clips(args.data, 0)
    galleries = {name: embed(reference, name) for name in SIGNATURES}
    results = {}
    print("| rendering | signature | R@1 | R@5 | MRR | median rank |")
    print("|---|---|---:|---:|---:|---:|")
    for rendering in args.renderings.split(","):
        clips = _test_mel_clips(args.data, rendering)
        for name in SIGNATURES:
            ranks = gallery_ranks(embed(clips, name), galleries[name])
            summary = retrieval_summary(ranks)
            results.setdefault(rendering, {})[name] = summary
            print(
                f"| {rendering} | {name} | {summary['recall_at_1']:.3f} | "
                f"{summary['recall_at_5']:.3f} | {summary['mrr']:.3f} | "
                f"{summary['median_rank']:.0f} |",
                flush=True,
            )
    if args.out:
        write_json_atomically(args.out, {"clips": len(reference), "results": results})
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
