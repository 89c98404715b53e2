"""The manifest of a prepared dataset, readable without TensorFlow."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tfembed.errors import DatasetError
from tfembed.features.framegrid import FrameGrid

MANIFEST_NAME = "manifest.json"
SPLITS = ("train", "validation", "test")


def read_manifest(data_dir: str | os.PathLike) -> dict[str, Any]:
    """Reads ``manifest.json`` of a prepared dataset.

    Raises:
        DatasetError: If the folder has no manifest (preparation never finished).
    """
    path = Path(data_dir) / MANIFEST_NAME
    if not path.is_file():
        raise DatasetError(
            f"{path} not found: {data_dir} is not a finished tfembed dataset "
            "(run tfembed-prepare, or rerun it to finish an interrupted preparation)"
        )
    return json.loads(path.read_text())


def grid_of(manifest: dict[str, Any]) -> FrameGrid:
    """Returns the frame grid a dataset was prepared with."""
    return FrameGrid.from_dict(manifest["frame_grid"])
