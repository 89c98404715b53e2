"""The official HEAR 2021 validator on a tiny exported mel model.

The validator imports PyTorch, which the core install leaves out: it runs in
.venv-hear, made by ``bash tools/hear_validate.sh --setup``. Without that
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


@pytest.mark.skipif(
    not (HEAR_VENV / "bin" / "hear-validator").is_file(),
    reason=f"no HEAR environment in {HEAR_VENV} (bash tools/hear_validate.sh --setup)",
)
def test_hear_validator_passes(exported_models) -> None:
    completed = subprocess.run(
        ["bash", str(REPO / "tools" / "hear_validate.sh"), str(exported_models["mel"])],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TFEMBED_HEAR_VENV": str(HEAR_VENV)},
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Looks good!" in completed.stdout
    assert "Received embedding of shape: (16, 43, 128)" in completed.stdout
    assert "Interval between timestamps is 46.875ms" in completed.stdout
