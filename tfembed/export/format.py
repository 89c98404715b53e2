"""What an export folder holds, readable without TensorFlow: file names and metadata.

``tfembed.export.tower`` writes exports; ``tfembed.inference`` and ``tfembed.evaluation``
read them through :func:`read_metadata`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tfembed.errors import ExportError

METADATA_NAME = "metadata.json"
SAVED_MODEL_FILE = "saved_model.pb"
REQUIRED_METADATA = ("domain", "frame_grid", "embedding_size", "variant")


def is_export(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a tfembed export (a SavedModel with its metadata)."""
    path = Path(path)
    return (path / METADATA_NAME).is_file() and (path / SAVED_MODEL_FILE).is_file()


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Reads and checks the ``metadata.json`` of an export.

    Raises:
        ExportError: The folder is not a tfembed export, or its metadata is
            unreadable or incomplete.
    """
    path = Path(path)
    metadata_path = path / METADATA_NAME
    if not metadata_path.is_file():
        raise ExportError(
            f"{path} is not a tfembed SavedModel ({METADATA_NAME} is missing; "
            "write one with tfembed-export)"
        )
    try:
        metadata = json.loads(metadata_path.read_text())
    except (OSError, ValueError) as error:
        raise ExportError(
            f"{metadata_path} is unreadable or corrupt ({error}); export the model again"
        ) from error
    missing = [
        key for key in REQUIRED_METADATA if not isinstance(metadata, dict) or key not in metadata
    ]
    if missing:
        raise ExportError(
            f"{metadata_path} lacks {', '.join(missing)}; "
            "export the model again with tfembed-export"
        )
    return metadata
