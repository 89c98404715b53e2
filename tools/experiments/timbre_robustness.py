"""Robustness of mel embeddings to the renderer: other soundfonts against the reference.

Scores exported mel models and the mel baselines (random tower, hand-made
features) with :func:`tfembed.evaluation.robustness.evaluate_robustness` on a
dataset prepared with ``tfembed-prepare --soundfonts``, prints one table per
rendering and writes JSON with the machine, commit and command.

Usage:
    python tools/experiments/timbre_robustness.py --data DATA_DIR \
        --models NAME=EXPORT_DIR [NAME=EXPORT_DIR ...] --renderings B,C \
        [--out timbre_robustness.json]
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> None:
    """Scores the rows, prints the tables and writes the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a dataset with several renderings")
    parser.add_argument("--models", nargs="+", default=[], help="NAME=EXPORT_DIR of mel models")
    parser.add_argument("--renderings", required=True, help="renderings to score, B,C")
    parser.add_argument("--out", default="timbre_robustness.json")
    args = parser.parse_args(argv)
    from tfembed.dataset.manifest import open_dataset
    from tfembed.evaluation.featurizers import (
        handmade_featurizer,
        random_tower_featurizer,
        saved_model_featurizer,
    )
    from tfembed.evaluation.robustness import evaluate_robustness
    from tfembed.utils.atomic import write_json_atomically
    from tfembed.utils.machine import this_machine

    dataset = open_dataset(args.data)
    featurizers = [
        saved_model_featurizer(path, dataset.grid, name)
        for name, path in (entry.split("=", 1) for entry in args.models)
    ]
    featurizers += [
        random_tower_featurizer("mel", dataset.grid),
        handmade_featurizer("mel", dataset.grid),
    ]
    renderings = [name.strip() for name in args.renderings.split(",") if name.strip()]
    result = evaluate_robustness(dataset, renderings, featurizers)
    reference = result["reference"]
    for rendering in renderings:
        print(f"\n{rendering} -> {reference} ({result['test_clips']} test clips)")
        print(
            "| row | R@1 | MRR | median rank | rank@100 | neighbour rank@100 (same / across) "
            "| composer (ref -> B) | key (ref -> B) |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name, row in result["rows"].items():
            same, other = row[reference], row[rendering]
            clip = other["same_clip"]
            neighbour = (same["neighbour_rank_at_100_am"], other["neighbour_rank_at_100_am"])
            print(
                f"| {name} | {clip['recall_at_1']:.3f} | {clip['mrr']:.3f} | "
                f"{clip['median_rank']:.0f} | {clip['rank_at_100_am']:.2f} | "
                f"{neighbour[0]:.2f} / {neighbour[1]:.2f} | "
                + " | ".join(
                    f"{same['probes'][task]:.3f} -> {other['probes'][task]:.3f}"
                    for task in ("composer", "key")
                )
                + " |"
            )
    machine = this_machine()
    result.update(
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        commit=_commit(),
        command="python " + " ".join(sys.argv),
        machine=machine.describe(),
        probe="linear (logistic regression, C chosen on the reference validation split)",
    )
    write_json_atomically(args.out, result)


if __name__ == "__main__":
    main()
