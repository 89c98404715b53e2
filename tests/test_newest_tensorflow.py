"""Every shipped model loads in an environment with the newest TensorFlow, without tfembed.

That environment is .venv-newtf, made by ``bash tools/experiments/setup_newest_tf.sh`` (a
download of the newest tensorflow-cpu); without it the newest-TensorFlow test is
skipped. The same check runs in this environment too, so the script itself is
always exercised.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
NEWTF_VENV = Path(os.environ.get("TFEMBED_NEWTF_VENV", REPO / ".venv-newtf"))
GOLDEN_OUTPUTS = len(np.load(REPO / "tests" / "golden" / "embeddings.npz").files)
"""One per one-tower model and one per tower of a joint model."""
CHECK = [
    str(REPO / "tests" / "plain_tf_check.py"),
    str(REPO / "saved_models"),
    str(REPO / "tests" / "golden"),
]


def _run(python: str) -> subprocess.CompletedProcess:
    # No PYTHONPATH: the check must not reach tfembed.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run(
        [python, *CHECK], capture_output=True, text=True, timeout=600, env=env, cwd="/"
    )


def test_plain_tensorflow_here_gets_the_golden_outputs() -> None:
    completed = _run(sys.executable)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.count("ok ") == GOLDEN_OUTPUTS


@pytest.mark.skipif(
    not (NEWTF_VENV / "bin" / "python").is_file(),
    reason=f"no newest-TensorFlow environment in {NEWTF_VENV} "
    "(bash tools/experiments/setup_newest_tf.sh)",
)
def test_newest_tensorflow_without_tfembed_gets_the_golden_outputs() -> None:
    python = str(NEWTF_VENV / "bin" / "python")
    find = "import importlib.util as u; print(u.find_spec('tfembed'), u.find_spec('tensorflow_io'))"
    probe = subprocess.run(
        [python, "-c", find],
        capture_output=True,
        text=True,
        env={key: value for key, value in os.environ.items() if key != "PYTHONPATH"},
        cwd="/",
    )
    assert probe.stdout.split() == ["None", "None"], probe.stdout + probe.stderr
    completed = _run(python)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.count("ok ") == GOLDEN_OUTPUTS
