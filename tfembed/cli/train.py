"""``tfembed-train``: train a siamese variant from a gin config."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import gin

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


def resolve_config(name: str) -> Path:
    """Returns a config path: as given if it exists, else one shipped with tfembed."""
    path = Path(name)
    if path.is_file():
        return path
    shipped = CONFIG_DIR / path.name
    if shipped.is_file():
        return shipped
    available = ", ".join(sorted(p.name for p in CONFIG_DIR.glob("*.gin")))
    raise FileNotFoundError(f"config {name} not found (shipped configs: {available})")


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
    from tfembed.train import train

    try:
        configs = [resolve_config(name) for name in args.config]
        gin.add_config_file_search_path(str(CONFIG_DIR))
        # gin logs an error for every search path an include is not found in before
        # it finds it; a real failure still raises.
        logging.disable(logging.ERROR)
        try:
            with gin.unlock_config():
                gin.clear_config()  # a second call in one process starts from scratch
                gin.parse_config_files_and_bindings(
                    [str(c) for c in configs], args.gin_param, finalize_config=False
                )
        finally:
            logging.disable(logging.NOTSET)
    except (FileNotFoundError, ValueError, KeyError) as error:
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
    from tfembed.data import grid_of, read_manifest
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
