"""Joint exports: both towers of a two-domain model in one folder (no TensorFlow here).

The cross-modal evaluation reads a model's mel tower and its roll tower, which
embed into one space; an export of one tower alone cannot be scored across
domains. This check runs before TensorFlow loads, so a wrong model stops
``tfembed-eval --crossmodal`` at once.
"""

from __future__ import annotations

import os
from pathlib import Path

from tfembed.errors import ConfigError
from tfembed.export.format import JOINT, read_metadata
from tfembed.export.registry import resolve_model


def joint_export(model: str | os.PathLike) -> Path:
    """Finds an export (folder or shipped name) and checks that it holds both towers.

    Raises:
        UnknownModelError: No export by that name or folder.
        ExportError: The folder's metadata is missing or incomplete.
        ConfigError: The export holds one tower only.
    """
    path = resolve_model(model)
    domain = read_metadata(path)["domain"]
    if domain != JOINT:
        raise ConfigError(
            f"{model} is not a joint model (domain {domain}); "
            "--crossmodal needs an export of both towers"
        )
    return path
