"""How much of each probe label one group of hand-made features carries.

Prints the table of :func:`tfembed.evaluation.feature_subsets.score_feature_subsets`
(a linear probe on each group of a domain's hand-made features, each single feature of
the small groups, and all of them; every probe task on the test split) and writes it
as JSON.

Usage:
    python tools/experiments/feature_subsets.py --data DATA_DIR --domain roll \
        [--out feature_subsets.json]
"""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> None:
    """Probes each subset, prints a table and writes the scores as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a dataset written by tfembed-prepare")
    parser.add_argument("--domain", choices=("mel", "roll"), default="roll")
    parser.add_argument("--out", default="feature_subsets.json")
    args = parser.parse_args(argv)
    from tfembed.evaluation.feature_subsets import score_feature_subsets
    from tfembed.utils.atomic import write_json_atomically

    scores, skipped = score_feature_subsets(args.data, args.domain)
    for task, reason in skipped.items():
        print(f"{task}: skipped, {reason}")
    metrics = list(scores["all"])
    print(f"| {args.domain} features | " + " | ".join(metrics) + " |")
    print("|---|" + "---:|" * len(metrics))
    for name, row in scores.items():
        print(f"| {name} | " + " | ".join(f"{row[metric]:.3f}" for metric in metrics) + " |")
    write_json_atomically(
        args.out,
        {"data": args.data, "domain": args.domain, "probe": "linear", "scores": scores},
    )


if __name__ == "__main__":
    main()
