"""A composer classifier on frozen embeddings of a shipped model, through plain Keras.

    python tools/examples/composer_classifier.py runs/demo/data [mel_mel]

The shipped SavedModel becomes a ``keras.layers.TFSMLayer``; its features of the
train clips of a prepared dataset (``tfembed-prepare``, e.g. ``tools/demo.sh``)
train a small softmax head, which is scored on the test clips beside chance (the
most frequent test composer).
"""

from __future__ import annotations

import sys

import keras
import numpy as np

import tfembed.data
from tfembed.export.registry import resolve_model

BATCH = 256


def labelled_clips(data: str, split: str, domain: str) -> tuple[np.ndarray, np.ndarray]:
    """The clips of a split whose composer is known, and their composer ids."""
    clips, composers = [], []
    for clip in tfembed.data.load_clips(data, split).as_numpy_iterator():
        if clip["composer"] >= 0:
            clips.append(clip[domain])
            composers.append(clip["composer"])
    return np.stack(clips), np.array(composers)


def main(data: str, model: str = "mel_mel", epochs: int = 40) -> dict[str, float]:
    """Trains the head; returns test accuracy and chance."""
    keras.utils.set_random_seed(0)
    folder = str(resolve_model(model))  # the shipped folder, e.g. saved_models/mel_mel
    features = keras.layers.TFSMLayer(folder, call_endpoint="serve", trainable=False)
    domain = "mel" if model.startswith("mel") else "roll"

    def embed(clips: np.ndarray) -> np.ndarray:
        return np.concatenate([features(clips[i : i + BATCH]) for i in range(0, len(clips), BATCH)])

    x_train, y_train = labelled_clips(data, "train", domain)
    x_test, y_test = labelled_clips(data, "test", domain)
    f_train, f_test = embed(x_train), embed(x_test)
    composers = int(max(y_train.max(), y_test.max())) + 1
    head = keras.Sequential(
        [
            keras.Input([f_train.shape[1]]),
            keras.layers.Normalization(),
            keras.layers.Dense(composers, activation="softmax"),
        ]
    )
    head.layers[0].adapt(f_train)
    head.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    head.fit(f_train, y_train, epochs=epochs, batch_size=64, verbose=0)
    accuracy = float(head.evaluate(f_test, y_test, verbose=0)[1])
    chance = float(np.bincount(y_test).max() / len(y_test))
    print(f"test clips {len(y_test)}: accuracy {accuracy:.3f} (chance {chance:.3f})")
    return {"accuracy": accuracy, "chance": chance}


if __name__ == "__main__":
    main(*sys.argv[1:])
