"""Loads every shipped model with plain TensorFlow and Keras and checks the golden outputs.

Imports only TensorFlow, Keras and numpy (never tfembed nor tensorflow-io), so it
runs in any environment with TensorFlow, e.g. the newest release:

    python tests/plain_tf_check.py saved_models tests/golden

For each model it compares ``tf.saved_model.load(...).serve`` and
``keras.layers.TFSMLayer(..., call_endpoint="serve", trainable=False)`` with
``tests/golden/embeddings.npz`` (atol 1e-5; a joint export's ``serve_mel`` and
``serve_roll`` with its keys ``NAME.mel`` and ``NAME.roll``), reads its ``sample_rate``, trains a
probe head on the frozen layer, prints ``ok NAME`` and exits 0, or prints what differs and exits 1.
"""

import json
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

ATOL = 1e-5


def check(models: Path, golden: Path) -> list[str]:
    """Returns the problems found (empty when every model matches)."""
    clips = np.load(golden / "clips.npz")
    expected = np.load(golden / "embeddings.npz")
    problems = []
    for name in sorted(expected.files):
        folder = models / name.partition(".")[0]
        domain = json.loads((folder / "metadata.json").read_text())["domain"]
        signature = "serve"
        if domain == "joint":  # NAME.mel, NAME.roll: one tower of a joint export
            domain = name.partition(".")[2]
            signature = f"serve_{domain}"
        inputs = clips[domain].astype(np.float32)
        loaded = tf.saved_model.load(str(folder))
        if int(loaded.sample_rate) != 16000:
            problems.append(f"{name}: sample_rate {int(loaded.sample_rate)}, not 16000")
        layer = keras.layers.TFSMLayer(str(folder), call_endpoint=signature, trainable=False)
        for how, output in (
            ("tf.saved_model.load", getattr(loaded, signature)(tf.constant(inputs))),
            ("TFSMLayer", layer(inputs)),
        ):
            error = float(np.max(np.abs(np.asarray(output) - expected[name])))
            if error > ATOL:
                problems.append(f"{name} through {how}: differs from the golden output by {error}")
        # A probe head on the frozen layer trains, and leaves the model as it was.
        probe = keras.Sequential([keras.Input(inputs.shape[1:]), layer, keras.layers.Dense(2)])
        probe.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        probe.fit(inputs, np.arange(len(inputs)) % 2, epochs=2, verbose=0)
        if len(probe.trainable_weights) != 2 or not np.allclose(
            layer(inputs), expected[name], atol=ATOL
        ):
            problems.append(f"{name}: a probe head on TFSMLayer changed the model or did not train")
        print(f"ok {name} (TensorFlow {tf.__version__}, Keras {keras.__version__})")
    return problems


if __name__ == "__main__":
    found = check(Path(sys.argv[1]), Path(sys.argv[2]))
    print("\n".join(found))
    sys.exit(1 if found else 0)
