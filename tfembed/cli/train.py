"""``tfembed-train``: train a siamese variant from a gin config, then export it."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from tfembed.cli import add_version, run_reporting_errors

SIGNAL_EXIT_BASE = 128
"""A run stopped by signal N exits with 128 + N, as shells report it."""


def _parser() -> argparse.ArgumentParser:
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
    add_version(parser)
    return parser


def _check(args: argparse.Namespace) -> None:
    """Reports a misspelt config or a folder that is no dataset before TensorFlow loads."""
    from tfembed.dataset.manifest import read_manifest
    from tfembed.training.configs import resolve_config
    from tfembed.training.run_folder import RunFolder

    for name in args.config:
        resolve_config(name)
    read_manifest(args.data)
    RunFolder.at(args.model_dir)


def _run(args: argparse.Namespace) -> int:
    _check(args)
    from tfembed.export.tower import export_tower
    from tfembed.models.siamese import variant_spec
    from tfembed.training.config import TrainConfig
    from tfembed.training.configs import parse_configs
    from tfembed.training.run_folder import RunFolder
    from tfembed.training.train import train

    parse_configs(args.config, args.gin_param)
    result = train(args.data, args.model_dir)
    print(
        f"done: step {result.step}"
        + "".join(f", {name} {value:.3f}" for name, value in result.metrics.items())
    )
    print(f"weights sha256 {result.weights_digest}")
    if result.stopped_by_signal is not None:
        return SIGNAL_EXIT_BASE + (result.stopped_by_signal or signal.SIGTERM)
    if not result.is_chief:  # the chief alone writes logs and the export
        return 0
    print(f"TensorBoard: tensorboard --logdir {Path(args.model_dir) / 'logs'}")
    joint = variant_spec(TrainConfig().variant).joint
    saved = export_tower(
        args.model_dir, RunFolder.at(args.model_dir).saved_model, "both" if joint else "first"
    )
    print(f"SavedModel of {'both towers' if joint else 'the test-time tower'}: {saved}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Runs ``tfembed-train``; returns the process exit status."""
    args = _parser().parse_args(argv)
    return run_reporting_errors("tfembed-train", lambda: _run(args))


if __name__ == "__main__":
    sys.exit(main())
