"""The stacked MLP heads: each head learns as a separate Keras fit would, independently."""

from __future__ import annotations

import keras
import numpy as np

from tfembed.evaluation.mlp_heads import HeadSpec, Training, train_heads

TRAINING = Training(max_epochs=60, patience=5, batch_size=64)


def _blobs(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three Gaussian classes in 8 dimensions, means 3 apart."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, count)
    centres = np.eye(3, 8) * 3.0
    return (centres[labels] + rng.normal(size=(count, 8))).astype(np.float32), labels


def test_stacked_heads_classify_as_well_as_a_keras_fit() -> None:
    train, validation, test = _blobs(600, 0), _blobs(200, 1), _blobs(400, 2)
    specs = [HeadSpec((32, 16), 0.3, 1e-2, seed) for seed in range(3)]
    specs.append(HeadSpec((64,), 0.0, 3e-3, 0))
    heads = train_heads(train, validation, specs, 3, TRAINING)
    stacked = [float(np.mean(head(test[0]).argmax(axis=1) == test[1])) for head in heads]

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input([8]), keras.layers.Dense(32, "relu")])
    model.add(keras.layers.Dropout(0.3))
    model.add(keras.layers.Dense(16, "relu"))
    model.add(keras.layers.Dropout(0.3))
    model.add(keras.layers.Dense(3))
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(True))
    stop = keras.callbacks.EarlyStopping(patience=5, restore_best_weights=True)
    fit = {"epochs": 60, "batch_size": 64, "callbacks": [stop], "verbose": 0}
    model.fit(*train, validation_data=validation, **fit)
    reference = float(np.mean(model.predict(test[0], verbose=0).argmax(axis=1) == test[1]))

    assert reference > 0.85
    assert min(stacked) > reference - 0.03
    first_layers = [head.weights[0][0] for head in heads[:3]]
    assert not np.allclose(first_layers[0], first_layers[1])  # seeds differ
    assert heads[3].weights[0][0].shape == (8, 64) and len(heads[3].weights) == 2


def test_early_stopping_keeps_each_heads_best_validation_loss() -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(300, 4)).astype(np.float32)
    noise = rng.normal(size=300).astype(np.float32)  # nothing to learn: validation worsens
    train, validation = (features[:200], noise[:200]), (features[200:], noise[200:])
    specs = [HeadSpec((64, 64), 0.0, 3e-2, 0), HeadSpec((64, 64), 0.0, 1e-4, 0)]
    fast, slow = train_heads(train, validation, specs, 1, TRAINING)

    assert fast.epochs < slow.epochs <= TRAINING.max_epochs
    for head in (fast, slow):
        restored = float(np.mean((head(validation[0])[:, 0] - validation[1]) ** 2))
        np.testing.assert_allclose(restored, head.validation_loss, rtol=1e-4)


def test_the_same_seeds_give_the_same_heads_whatever_was_trained_before() -> None:
    train, validation = _blobs(300, 0), _blobs(100, 1)
    specs = [HeadSpec((16,), 0.3, 1e-2, 7)]
    first = train_heads(train, validation, specs, 3, TRAINING)[0]
    # Another head of the same layout in between (its trainer is reused).
    train_heads(_blobs(200, 3), validation, [HeadSpec((16,), 0.5, 3e-2, 8)], 3, TRAINING)
    again = train_heads(train, validation, specs, 3, TRAINING)[0]
    assert again.epochs == first.epochs and again.validation_loss == first.validation_loss
    for (kernel, bias), (same_kernel, same_bias) in zip(first.weights, again.weights, strict=True):
        np.testing.assert_array_equal(same_kernel, kernel)
        np.testing.assert_array_equal(same_bias, bias)
