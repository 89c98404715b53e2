#!/usr/bin/env bash
# Creates .venv-newtf (override with TFEMBED_NEWTF_VENV): the newest tensorflow-cpu
# release and numpy from the package index, without tfembed or tensorflow-io.
# tests/test_newest_tensorflow.py then loads every shipped model there with plain
# TensorFlow and Keras (tests/plain_tf_check.py) and compares the golden outputs;
# without this environment that test is skipped. Downloads about 250 MB.
#   bash tools/experiments/setup_newest_tf.sh
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${TFEMBED_NEWTF_VENV:-$repo/.venv-newtf}"
python="${PYTHON:-python3}"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q --upgrade tensorflow-cpu numpy
"$venv/bin/python" -c "import tensorflow as tf, keras; print('TensorFlow', tf.__version__, 'Keras', keras.__version__)"
