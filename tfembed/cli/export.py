"""``tfembed-export``: a training run's tower -> SavedModel + metadata.json."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Runs ``tfembed-export``; returns the process exit status."""
    parser = argparse.ArgumentParser(prog="tfembed-export", description=__doc__)
    parser.add_argument("--model_dir", required=True, help="training run folder")
    parser.add_argument("--out", required=True, help="SavedModel folder, e.g. saved_models/NAME")
    parser.add_argument(
        "--data",
        help="dataset the run was trained on (for the metadata "
        "and the frame grid; default: the grid of the run's config)",
    )
    parser.add_argument(
        "--tower",
        choices=["first", "second"],
        default="first",
        help="first = the test-time tower (default), second = the other one",
    )
    parser.add_argument(
        "--checkpoint",
        choices=["best", "latest"],
        default="best",
        help="best = lowest validation rank@100 (default), latest = the last one saved",
    )
    args = parser.parse_args(argv)
    from tfembed.dataset.clips import grid_of, read_manifest
    from tfembed.export import export_tower
    from tfembed.features.framegrid import DEFAULT_GRID

    grid = grid_of(read_manifest(args.data)) if args.data else DEFAULT_GRID
    try:
        out = export_tower(args.model_dir, args.out, args.data, grid, args.tower, args.checkpoint)
    except FileNotFoundError as error:
        print(f"tfembed-export: error: {error}", file=sys.stderr)
        return 1
    print(f"SavedModel written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
