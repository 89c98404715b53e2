"""The official HEAR 2021 validator on a tiny exported mel model and the shipped ones.

The validator imports PyTorch, which the core install leaves out: it runs in
.venv-hear, made by ``bash tools/experiments/hear_validate.sh --setup``. Without that
environment the test is skipped.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the real pipeline end to end

REPO = Path(__file__).resolve().parents[1]
HEAR_VENV = Path(os.environ.get("TFEMBED_HEAR_VENV", REPO / ".venv-hear"))
needs_hear = pytest.mark.skipif(
    not (HEAR_VENV / "bin" / "hear-validator").is_file(),
    reason=f"no HEAR environment in {HEAR_VENV} (bash tools/experiments/hear_validate.sh --setup)",
)


@needs_hear
def test_hear_validator_passes(exported_models) -> None:
    _validate(str(exported_models["mel"]))


@needs_hear
@pytest.mark.parametrize("name", ["mel_mel", "mel_sym"])
def test_hear_validator_passes_on_the_shipped_mel_models_by_name(name: str) -> None:
    _validate(name)


def _validate(model: str) -> None:
    completed = subprocess.run(
        ["bash", str(REPO / "tools" / "experiments" / "hear_validate.sh"), model],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TFEMBED_HEAR_VENV": str(HEAR_VENV)},
        cwd="/",  # a bare name must not depend on the current folder
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Looks good!" in completed.stdout
    assert "Received embedding of shape: (16, 43, 128)" in completed.stdout
    assert "Interval between timestamps is 46.875ms" in completed.stdout
