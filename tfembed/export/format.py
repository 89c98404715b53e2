"""What an export folder holds, readable without TensorFlow: file names and metadata.

``tfembed.export.tower`` writes exports; ``tfembed.inference`` and ``tfembed.evaluation``
read them through :func:`read_metadata`. An export holds one tower (``domain`` ``mel``
or ``roll``, clips through ``serve``) or both towers of a two-domain run (``domain``
``joint``, ``domains`` ``["mel", "roll"]``, clips through ``serve_mel`` and
``serve_roll``): :func:`export_domains` and :func:`serve_signature` read either.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tfembed.errors import ExportError
from tfembed.features.framegrid import DOMAINS

METADATA_NAME = "metadata.json"
SAVED_MODEL_FILE = "saved_model.pb"
REQUIRED_METADATA = ("domain", "frame_grid", "embedding_size", "variant")
JOINT = "joint"
"""The ``domain`` of an export holding both towers of a run (a mel and a roll tower)."""


def is_export(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a tfembed export (a SavedModel with its metadata)."""
    path = Path(path)
    return (path / METADATA_NAME).is_file() and (path / SAVED_MODEL_FILE).is_file()


def claim_out(out: str | os.PathLike) -> None:
    """Refuses an export folder that holds anything but an earlier export.

    Raises:
        ExportError: ``out`` is a file, or a folder with other content.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out {out} is a file; choose a folder for the SavedModel")
    if out.is_dir() and any(out.iterdir()) and not is_export(out):
        raise ExportError(
            f"--out {out} is not empty and holds no earlier tfembed export; "
            "choose a new or empty folder"
        )


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
    if metadata["domain"] == JOINT and sorted(metadata.get("domains", ())) != sorted(DOMAINS):
        raise ExportError(
            f"{metadata_path}: a joint export must list its towers' domains "
            f"{list(DOMAINS)}, not {metadata.get('domains')!r}; export the model again"
        )
    return metadata


def export_domains(metadata: dict[str, Any]) -> tuple[str, ...]:
    """The input domains of an export's towers: ``(domain,)``, or ``("mel", "roll")`` if joint."""
    if metadata["domain"] == JOINT:
        return tuple(sorted(metadata["domains"]))
    return (metadata["domain"],)


def serve_signature(domain: str, joint: bool) -> str:
    """The signature that embeds clips of ``domain``: ``serve``, or ``serve_<domain>`` if joint."""
    return f"serve_{domain}" if joint else "serve"


def without_machine_paths(metadata: dict[str, Any]) -> dict[str, Any]:
    """The metadata without the paths of the machine that built the export.

    The training run's folder (``model_dir``) and the dataset's (``data_dir``,
    ``manifest``) become their names (``run_name``, ``dataset.data_name``); the
    rest is kept as it is.
    """
    kept = {key: value for key, value in metadata.items() if key != "model_dir"}
    if metadata.get("model_dir"):
        kept.setdefault("run_name", Path(metadata["model_dir"]).name)
    dataset = metadata.get("dataset")
    if isinstance(dataset, dict):
        kept["dataset"] = {
            key: value for key, value in dataset.items() if key not in ("data_dir", "manifest")
        }
        if dataset.get("data_dir"):
            kept["dataset"].setdefault("data_name", Path(dataset["data_dir"]).name)
    return kept
