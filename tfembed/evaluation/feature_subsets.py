"""How much of each probe label one group of hand-made features carries.

Trains the evaluation's linear probe (:func:`tfembed.evaluation.probes.train_linear_probe`:
logistic or ridge regression on standardised features, strength chosen on validation,
train clips at the evaluation's stride) on each group of a domain's hand-made features,
on each single feature of the small groups, and on all of them, and scores every probe
task on the test split. A label that one hand-made number nearly is (note density is
onsets per second) sets a floor that no learned embedding of the same clips can go far
below, whatever it learned. ``tools/experiments/feature_subsets.py`` prints the table.
"""

from __future__ import annotations

import itertools
import os

import numpy as np

from tfembed.dataset.manifest import TEST_SPLIT, TRAIN_SPLIT, VALIDATION_SPLIT, open_dataset
from tfembed.evaluation.evaluate import TRAIN_STRIDE, unprobeable
from tfembed.evaluation.featurizers import handmade_featurizer
from tfembed.evaluation.probes import ProbeTask, probe_tasks, train_linear_probe
from tfembed.evaluation.split_features import SplitFeatures, featurize_splits
from tfembed.features.handmade import handmade_groups, handmade_names

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


def score_feature_subsets(
    data_dir: str | os.PathLike, domain: str
) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    """Scores a linear probe on each subset of a domain's hand-made features, every task.

    Args:
        data_dir: A dataset written by ``tfembed-prepare``.
        domain: ``mel`` or ``roll``.

    Returns:
        Subset name -> metric -> test score, and the tasks skipped with the reason
        (a label unknown on a split, as the evaluation skips it).
    """
    dataset = open_dataset(data_dir)
    featurizer = handmade_featurizer(domain, dataset.grid)
    splits = featurize_splits(dataset, [featurizer], train_stride=TRAIN_STRIDE)
    tasks, skipped = [], {}
    for task in probe_tasks(len(dataset.manifest["vocabularies"]["composer"])):
        reason = unprobeable(task, splits)
        if reason:
            skipped[task.name] = reason
        else:
            tasks.append(task)
    subsets = feature_subsets(
        handmade_names(domain, dataset.grid), handmade_groups(domain, dataset.grid)
    )
    scores: dict[str, dict[str, float]] = {name: {} for name in subsets}
    for task in tasks:
        for name, columns in subsets.items():
            scores[name].update(_probe(task, splits, featurizer.name, columns))
    return scores, skipped


def _probe(
    task: ProbeTask, splits: dict[str, SplitFeatures], featurizer: str, columns: np.ndarray
) -> dict[str, float]:
    """A linear probe of ``task`` on these feature columns: its test scores."""

    def data(split: str) -> tuple[np.ndarray, np.ndarray]:
        rows = task.known(splits[split].labels)
        features = splits[split].features[featurizer][rows][:, columns]
        return features, splits[split].labels[task.label][rows]

    predict, _ = train_linear_probe(task, data(TRAIN_SPLIT), data(VALIDATION_SPLIT))
    features, truth = data(TEST_SPLIT)
    result = task.score(truth, task.predictions(predict(features)))
    return {metric: float(result[metric]) for metric in task.metrics}
