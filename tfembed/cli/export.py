"""``tfembed-export``: a training run's tower (or both towers) -> SavedModel + metadata.json."""

from __future__ import annotations

import argparse
import sys

from tfembed.cli import add_version, run_reporting_errors
from tfembed.training.run_folder import CHECKPOINT_CHOICES


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tfembed-export", description=__doc__)
    parser.add_argument("--model_dir", required=True, help="training run folder")
    parser.add_argument("--out", required=True, help="SavedModel folder, e.g. saved_models/NAME")
    parser.add_argument(
        "--tower",
        choices=["first", "second", "both"],
        default="first",
        help="first = the test-time tower (default), second = the other one, both = a joint "
        "export of a run whose towers read different domains (MEL_SYM, SYM_MEL): audio "
        "and MIDI (as piano roll) embedded into one space",
    )
    parser.add_argument(
        "--checkpoint",
        choices=CHECKPOINT_CHOICES,
        default="best",
        help="best = the best validation metric, rank@100 (JOINT: audio -> roll R@1) "
        "(default), latest = the last one saved, average = the mean of the last three "
        "saved (the joint recipe's choice)",
    )
    parser.add_argument(
        "--tflite",
        action="store_true",
        help="also write model.tflite, a TFLite conversion of the serve signature "
        "(of serve_mel and serve_roll with --tower both)",
    )
    parser.add_argument(
        "--features_from",
        action="append",
        default=[],
        metavar="RUN",
        help="with --tower both: a run of one domain (MEL_MEL, SYM_SYM) whose tower, at its "
        "best checkpoint, gives the features of that domain (features_mel, features_roll) "
        "in place of the joint run's; once per domain",
    )
    add_version(parser)
    return parser


def _run(args: argparse.Namespace) -> int:
    from tfembed.export.format import claim_out
    from tfembed.training.run_folder import RunFolder

    for run in (args.model_dir, *args.features_from):  # a wrong folder, before TensorFlow loads
        RunFolder.at(run).read_record()
    claim_out(args.out)
    from tfembed.export.tower import export_tower

    out = export_tower(
        args.model_dir, args.out, args.tower, args.checkpoint, args.tflite, args.features_from
    )
    print(f"SavedModel written to {out}" + (" (and model.tflite)" if args.tflite else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Runs ``tfembed-export``; returns the process exit status.

    The frame grid and the dataset come from the run folder's ``run.json``.
    """
    args = _parser().parse_args(argv)
    return run_reporting_errors("tfembed-export", lambda: _run(args))


if __name__ == "__main__":
    sys.exit(main())
