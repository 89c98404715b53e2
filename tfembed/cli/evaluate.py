"""``tfembed-eval``: rank@100, probe tasks and baselines for exported towers -> a report.

With ``--crossmodal``, joint models (a mel and a roll tower in one space) are scored
across domains instead: same-moment retrieval, piece identification and alignment
of audio excerpts against the piano rolls -> crossmodal.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tfembed.cli import ERROR, add_version, run_reporting_errors

if TYPE_CHECKING:
    from tfembed.dataset.manifest import PreparedDataset


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tfembed-eval", description=__doc__)
    parser.add_argument(
        "--saved_model",
        action="append",
        required=True,
        help="a tfembed-export SavedModel folder or a shipped model name (mel_mel, ...); "
        "repeat to compare several",
    )
    parser.add_argument("--data", required=True, help="dataset written by tfembed-prepare")
    parser.add_argument("--out", required=True, help="folder for report.json, report.md, plots")
    parser.add_argument("--seeds", type=int, default=3, help="probe heads per row and task")
    parser.add_argument(
        "--no_baselines",
        action="store_true",
        help="leave out the chance, random-tower and hand-made rows",
    )
    parser.add_argument(
        "--bootstrap_rounds", type=int, default=1000, help="draws of the significance test"
    )
    parser.add_argument(
        "--min_test_works",
        "--min_test_pieces",
        dest="min_test_works",
        type=int,
        default=5,
        help="metrics measured on fewer test works are not tested for significance",
    )
    parser.add_argument(
        "--train_stride",
        type=int,
        default=3,
        help="probes train on every Nth clip of each train piece (default 3; 1 takes all)",
    )
    parser.add_argument(
        "--domain",
        choices=("mel", "roll"),
        help="score only the towers that read this domain, e.g. one tower of a joint "
        "export against one-domain models (default: every tower)",
    )
    parser.add_argument(
        "--renderings",
        help="also score the mel rows on these renderings of the dataset (B,C: names from "
        "tfembed-prepare --soundfonts) against its reference rendering -> robustness.json; "
        "with --crossmodal, the cross-modal figures with each rendering's audio",
    )
    parser.add_argument(
        "--crossmodal",
        action="store_true",
        help="score joint models (exports of both towers) across domains instead of the "
        "Table-1 report: audio <-> roll retrieval, piece identification and alignment of "
        "30 s audio excerpts (with --renderings, per rendering too) -> crossmodal.json",
    )
    add_version(parser)
    return parser


def _run(args: argparse.Namespace) -> int:
    from tfembed.dataset.manifest import open_dataset
    from tfembed.evaluation.joint import joint_export
    from tfembed.export.format import read_metadata
    from tfembed.export.registry import resolve_model

    for model in args.saved_model:  # misspelt names and wrong folders, before TensorFlow loads
        if args.crossmodal:
            joint_export(model)
        else:
            read_metadata(resolve_model(model))
    renderings = _renderings(args.renderings, open_dataset(args.data))
    if args.crossmodal:
        return _run_crossmodal(args, renderings)
    from tfembed.evaluation.evaluate import REPORT_MD, evaluate
    from tfembed.training.determinism import run_ops_one_at_a_time

    run_ops_one_at_a_time()  # the probe heads train: the same report on every run
    evaluate(
        args.saved_model,
        args.data,
        args.out,
        seeds=args.seeds,
        baselines=not args.no_baselines,
        bootstrap_rounds=args.bootstrap_rounds,
        min_test_works=args.min_test_works,
        train_stride=args.train_stride,
        domain=args.domain,
    )
    print((Path(args.out) / REPORT_MD).read_text())
    if renderings:
        from tfembed.evaluation.robustness import write_robustness_report

        print(
            write_robustness_report(
                args.saved_model,
                args.data,
                renderings,
                args.out,
                not args.no_baselines,
                args.bootstrap_rounds,
                args.min_test_works,
            )
        )
    print(f"report written to {args.out}")
    return 0


def _run_crossmodal(args: argparse.Namespace, renderings: list[str]) -> int:
    """The cross-modal report of the joint models (and its baselines), per rendering."""
    from tfembed.evaluation.crossmodal import write_crossmodal_report

    print(
        write_crossmodal_report(
            args.saved_model,
            args.data,
            args.out,
            renderings,
            baselines=not args.no_baselines,
            bootstrap_rounds=args.bootstrap_rounds,
            min_test_works=args.min_test_works,
        )
    )
    print(f"report written to {args.out}")
    return 0


def _renderings(listed: str | None, dataset: PreparedDataset) -> list[str]:
    """The ``--renderings`` names, checked against the dataset's before TensorFlow loads.

    Raises:
        tfembed.errors.DatasetError: The dataset lacks one, or it is the reference.
    """
    from tfembed.errors import DatasetError

    if not listed:
        return []
    names = [name.strip() for name in listed.split(",") if name.strip()]
    for name in names:
        if dataset.rendering_index(name) == 0:
            raise DatasetError(
                f"--renderings {name}: it is {dataset.root}'s reference rendering, which "
                "the others are scored against; name the others"
            )
    return names


def main(argv: list[str] | None = None) -> int:
    """Runs ``tfembed-eval``; returns the process exit status (0; 1: an error; 2: usage)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.crossmodal and args.domain:
        parser.error(
            "--domain chooses the towers of the report within one domain; "
            "--crossmodal scores both towers of a joint model together"
        )
    if Path(args.out).exists() and not Path(args.out).is_dir():
        print(f"tfembed-eval: error: --out {args.out} is a file; give a folder", file=sys.stderr)
        return ERROR
    return run_reporting_errors("tfembed-eval", lambda: _run(args))


if __name__ == "__main__":
    sys.exit(main())
