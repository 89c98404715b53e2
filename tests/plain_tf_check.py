"""Loads every shipped model with plain TensorFlow and Keras and checks the golden outputs.

Imports only TensorFlow, Keras and numpy (never tfembed nor tensorflow-io), so it
runs in any environment with TensorFlow, e.g. the newest release:

    python tests/plain_tf_check.py saved_models tests/golden

For each model it compares ``tf.saved_model.load(...).serve`` and
``keras.layers.TFSMLayer(..., call_endpoint="serve")`` with
``tests/golden/embeddings.npz`` (atol 1e-5), prints ``ok NAME`` and exits 0, or
prints what differs and exits 1.
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
        folder = models / name
        domain = json.loads((folder / "metadata.json").read_text())["domain"]
        inputs = clips[domain].astype(np.float32)
        loaded = tf.saved_model.load(str(folder))
        layer = keras.layers.TFSMLayer(str(folder), call_endpoint="serve")
        for how, output in (
            ("tf.saved_model.load", loaded.serve(tf.constant(inputs))),
            ("TFSMLayer", layer(inputs)),
        ):
            error = float(np.max(np.abs(np.asarray(output) - expected[name])))
            if error > ATOL:
                problems.append(f"{name} through {how}: differs from the golden output by {error}")
        print(f"ok {name} (TensorFlow {tf.__version__}, Keras {keras.__version__})")
    return problems


if __name__ == "__main__":
    found = check(Path(sys.argv[1]), Path(sys.argv[2]))
    print("\n".join(found))
    sys.exit(1 if found else 0)
