"""The linear probe and composer per piece, on real features of a prepared dataset."""

from __future__ import annotations

import numpy as np
import pytest

from tfembed.evaluation.evaluate import piece_predictions
from tfembed.evaluation.featurizers import handmade_featurizer
from tfembed.evaluation.probes import (
    LOGISTIC_C,
    RIDGE_ALPHA,
    probe_tasks,
    train_linear_probe,
)
from tfembed.evaluation.split_features import featurize_split
from tfembed.features.framegrid import DEFAULT_GRID


@pytest.fixture(scope="module")
def roll_features(tiny_dataset):
    featurizer = handmade_featurizer("roll", DEFAULT_GRID)
    splits = {
        split: featurize_split(tiny_dataset, split, [featurizer])
        for split in ("train", "validation", "test")
    }
    return featurizer.name, splits


def _pairs(roll_features, split, label):
    name, splits = roll_features
    return splits[split].features[name], splits[split].labels[label]


def test_linear_density_probe_predicts_note_density(roll_features):
    density = next(task for task in probe_tasks(4) if task.name == "density")
    predict, strength = train_linear_probe(
        density,
        _pairs(roll_features, "train", "note_density"),
        _pairs(roll_features, "validation", "note_density"),
    )
    assert strength in RIDGE_ALPHA
    features, truth = _pairs(roll_features, "test", "note_density")
    assert density.score(truth, predict(features))["density_r2"] > 0.5


def test_linear_composer_probe_gives_probabilities_over_every_class(roll_features):
    composer = next(task for task in probe_tasks(4) if task.name == "composer")
    predict, strength = train_linear_probe(
        composer,
        _pairs(roll_features, "train", "composer"),
        _pairs(roll_features, "validation", "composer"),
    )
    assert strength in LOGISTIC_C
    features, truth = _pairs(roll_features, "test", "composer")
    probabilities = predict(features)
    assert probabilities.shape == (len(features), 4)
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    chance = np.bincount(truth).max() / len(truth)
    assert composer.score(truth, composer.predictions(probabilities))["composer_micro_f1"] > (
        0.5 * chance
    )


def test_a_piece_is_predicted_by_the_mean_of_its_clips_probabilities():
    probabilities = np.array([[0.6, 0.4], [0.1, 0.9], [0.55, 0.45], [0.9, 0.1]])
    pieces, predicted = piece_predictions(probabilities, np.array([b"x", b"x", b"x", b"y"]))
    # x: clip votes say class 0 twice, but the mean probability says class 1.
    assert pieces.tolist() == [b"x", b"y"] and predicted.tolist() == [1, 0]
