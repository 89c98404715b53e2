"""``tfembed-train``: train a siamese variant from a gin config."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Runs ``tfembed-train``; returns the process exit status."""
    parser = argparse.ArgumentParser(prog="tfembed-train", description=__doc__)
    parser.add_argument(
        "--config",
        action="append",
        required=True,
        help="gin config (a path, or a shipped name such as mel_mel.gin); "
        "repeat to append overrides such as tiny.gin",
    )
    parser.add_argument("--data", required=True, help="dataset prepared by tfembed-prepare")
    parser.add_argument("--model_dir", required=True, help="run folder (resumed if it exists)")
    parser.add_argument(
        "--gin_param", action="append", default=[], help="extra binding, e.g. 'train.steps = 500'"
    )
    args = parser.parse_args(argv)
    from tfembed.errors import TfembedError
    from tfembed.training.configs import parse_configs
    from tfembed.training.train import train

    try:
        parse_configs(args.config, args.gin_param)
    except TfembedError as error:
        print(f"tfembed-train: error: {error}", file=sys.stderr)
        return 2
    metrics = train(args.data, args.model_dir)
    print(
        "done: "
        + ", ".join(
            f"{name} {value:.3f}" for name, value in metrics.items() if name != "stopped_by_signal"
        )
    )
    print(f"TensorBoard: tensorboard --logdir {Path(args.model_dir) / 'logs'}")
    if metrics.get("stopped_by_signal"):
        return 0
    from tfembed.dataset.clips import grid_of, read_manifest
    from tfembed.export import export_tower

    saved = export_tower(
        args.model_dir,
        Path(args.model_dir) / "saved_model",
        args.data,
        grid_of(read_manifest(args.data)),
    )
    print(f"SavedModel of the test-time tower: {saved}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
