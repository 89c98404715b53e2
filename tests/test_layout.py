"""The package reads in the order the data flows: no stage imports a later one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tfembed"

TRAINING_MACHINERY = sorted(
    path.stem for path in (PACKAGE / "training").glob("*.py") if path.stem != "config"
)
FORBIDDEN = {
    "features": (
        "preparation",
        "dataset",
        "models",
        "training",
        "export",
        "inference",
        "evaluation",
    ),
    "dataset": ("preparation", "models", "training", "export", "inference", "evaluation"),
    "models": ("preparation", "dataset", "training", "export", "inference", "evaluation"),
    "training": ("preparation", "export", "inference", "evaluation"),
    "inference": ("training", "export.tower", "export.tflite", "evaluation", "models"),
    "evaluation": (
        *(f"training.{module}" for module in TRAINING_MACHINERY),
        "export.tower",
        "export.tflite",
        "models.siamese",
        "models.losses",
    ),
}
"""Per stage, the stages it must not import (evaluation builds the random-weight
baseline tower through ``tfembed.models.towers``, uses ``models.ranking``, and
reads ``training.config`` for the defaults of settings an older export lacks)."""


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.startswith("tfembed.")}


@pytest.mark.parametrize("stage", sorted(FORBIDDEN))
def test_no_stage_imports_a_later_one(stage) -> None:
    offending = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in sorted((PACKAGE / stage).glob("*.py"))
        for name in _imports(path)
        for later in FORBIDDEN[stage]
        if name == f"tfembed.{later}" or name.startswith(f"tfembed.{later}.")
    ]
    assert not offending
