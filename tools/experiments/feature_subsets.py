"""How much of each probe label one group of hand-made features carries.

Trains the evaluation's linear probe (``tfembed.evaluation.probes``: logistic
or ridge regression on standardised features, strength chosen on validation,
train clips at the evaluation's stride) on each group of a domain's hand-made
features, on each single feature of the small groups, and on all of them, and
scores every probe task on the test split. A label that one hand-made number
nearly is (note density is onsets per second) sets a floor that no learned
embedding of the same clips can go far below, whatever it learned.

Usage:
    python tools/experiments/feature_subsets.py --data DATA_DIR --domain roll \
        [--out feature_subsets.json]
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np

SINGLES_UP_TO = 4
"""Groups of at most this many features are also probed one feature at a time."""


def feature_subsets(names: tuple[str, ...], groups: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Column indices of each group, of each feature of a small group, and of all.

    Args:
        names: One name per hand-made feature column.
        groups: Sizes of the consecutive groups of columns.
    """
    subsets: dict[str, np.ndarray] = {}
    for start, end in itertools.pairwise([0, *itertools.accumulate(groups)]):
        columns = np.arange(start, end)
        if len(columns) > SINGLES_UP_TO:
            subsets[f"{names[start]} .. {names[end - 1]}"] = columns
        else:
            subsets.update({names[column]: np.array([column]) for column in columns})
    subsets["all"] = np.arange(len(names))
    return subsets


def main(argv: list[str] | None = None) -> None:
    """Probes each subset, prints a table and writes the scores as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a dataset written by tfembed-prepare")
    parser.add_argument("--domain", choices=("mel", "roll"), default="roll")
    parser.add_argument("--out", default="feature_subsets.json")
    args = parser.parse_args(argv)
    from tfembed.dataset.manifest import open_dataset
    from tfembed.evaluation.evaluate import TRAIN_STRIDE, unprobeable
    from tfembed.evaluation.featurizers import handmade_featurizer
    from tfembed.evaluation.probes import probe_tasks, train_linear_probe
    from tfembed.evaluation.split_features import featurize_splits
    from tfembed.features.handmade import handmade_groups, handmade_names
    from tfembed.utils.atomic import write_json_atomically

    dataset = open_dataset(args.data)
    featurizer = handmade_featurizer(args.domain, dataset.grid)
    splits = featurize_splits(dataset, [featurizer], train_stride=TRAIN_STRIDE)
    tasks = []
    for task in probe_tasks(len(dataset.manifest["vocabularies"]["composer"])):
        reason = unprobeable(task, splits)
        if reason:
            print(f"{task.name}: skipped, {reason}")
        else:
            tasks.append(task)
    subsets = feature_subsets(
        handmade_names(args.domain, dataset.grid), handmade_groups(args.domain, dataset.grid)
    )
    scores: dict[str, dict[str, float]] = {name: {} for name in subsets}
    for task in tasks:
        known = {name: task.known(split.labels) for name, split in splits.items()}

        def data(split: str, columns: np.ndarray, task=task, known=known):
            rows = known[split]
            features = splits[split].features[featurizer.name][rows][:, columns]
            return features, splits[split].labels[task.label][rows]

        for name, columns in subsets.items():
            predict, _ = train_linear_probe(
                task, data("train", columns), data("validation", columns)
            )
            features, truth = data("test", columns)
            result = task.score(truth, task.predictions(predict(features)))
            scores[name].update({metric: float(result[metric]) for metric in task.metrics})
    metrics = [metric for task in tasks for metric in task.metrics]
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
