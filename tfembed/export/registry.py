"""Finding exported models by path or bare name, and checking shipped ones against their manifest.

A name such as ``mel_mel`` is looked up in this order:

1. the path as given (a folder written by ``tfembed-export``);
2. each folder of ``$TFEMBED_MODELS`` (``os.pathsep``-separated), as ``FOLDER/NAME``;
3. the models installed with the package (``saved_models/`` of the repository,
   installed as ``tfembed.saved_models``).

A folder of models may hold ``MANIFEST.json`` (written by ``tools/release/build_models.sh``)
with the sha256 and size of every file of every model; a model in such a folder is
checked against it the first time it is loaded in a process. No TensorFlow here.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from tfembed.errors import ExportError, UnknownModelError
from tfembed.export.format import is_export

MANIFEST_NAME = "MANIFEST.json"
MODELS_ENV = "TFEMBED_MODELS"
SHIPPED_PACKAGE = "tfembed.saved_models"
_CHUNK = 1 << 20
_verified: set[Path] = set()


def installed_models_dir() -> Path | None:
    """The folder of the models installed with tfembed, or ``None`` if there is none.

    An installed package (``pip install .``) has them as ``tfembed.saved_models``;
    a source checkout has them in ``saved_models/`` beside the ``tfembed`` folder.
    """
    spec = importlib.util.find_spec(SHIPPED_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    checkout = Path(__file__).resolve().parents[1] / "saved_models"
    return checkout if (checkout / MANIFEST_NAME).is_file() else None


def model_roots() -> list[Path]:
    """The folders searched for a bare name, in lookup order (``$TFEMBED_MODELS`` first)."""
    roots = [Path(part) for part in os.environ.get(MODELS_ENV, "").split(os.pathsep) if part]
    installed = installed_models_dir()
    if installed is not None:
        roots.append(installed)
    return roots


def available_models() -> list[str]:
    """Names that :func:`resolve_model` finds, over every folder it searches."""
    names = {
        child.name
        for root in model_roots()
        if root.is_dir()
        for child in root.iterdir()
        if is_export(child)
    }
    return sorted(names)


def file_digest(path: str | os.PathLike) -> str:
    """The sha256 of a file, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def model_files(folder: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Every file under a model folder (relative POSIX path -> ``sha256`` and ``size``)."""
    folder = Path(folder)
    return {
        path.relative_to(folder).as_posix(): {
            "sha256": file_digest(path),
            "size": path.stat().st_size,
        }
        for path in sorted(folder.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def model_entry_files(folder: str | os.PathLike) -> dict[str, Any]:
    """A manifest entry's ``files`` (sha256 and size of each) and total ``size`` of a model."""
    files = model_files(folder)
    return {"files": files, "size": sum(file["size"] for file in files.values())}


def refresh_manifest(root: str | os.PathLike) -> dict[str, Any]:
    """Recomputes the files, sizes and total size of every model in ``root/MANIFEST.json``.

    The rest of each entry (variant, test figures) is kept. Returns the manifest written.

    Raises:
        ExportError: ``root`` has no readable manifest.
    """
    from tfembed.utils.atomic import write_json_atomically

    manifest = read_manifest(root)
    if manifest is None:
        raise ExportError(f"{Path(root) / MANIFEST_NAME} does not exist")
    for name, entry in manifest["models"].items():
        entry.update(model_entry_files(Path(root) / name))
    manifest["total_size"] = sum(entry["size"] for entry in manifest["models"].values())
    write_json_atomically(Path(root) / MANIFEST_NAME, manifest)
    return manifest


def read_manifest(root: str | os.PathLike) -> dict[str, Any] | None:
    """The ``MANIFEST.json`` of a folder of models, or ``None`` if it has none.

    Raises:
        ExportError: The manifest is unreadable.
    """
    path = Path(root) / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ExportError(
            f"{path} is unreadable or corrupt ({error}); reinstall tfembed or "
            "rebuild the models with tools/release/build_models.sh"
        ) from error
    if not isinstance(manifest, dict) or not isinstance(manifest.get("models"), dict):
        raise ExportError(f"{path} has no 'models'; rebuild it with tools/release/build_models.sh")
    return manifest


def verify_model(folder: str | os.PathLike) -> None:
    """Checks a model against the ``MANIFEST.json`` of its parent folder, once per process.

    A folder without a manifest, or a model the manifest does not list, is not checked.

    Raises:
        ExportError: A listed file is missing, or its size or sha256 differs.
    """
    folder = Path(folder).resolve()
    if folder in _verified:
        return
    manifest = read_manifest(folder.parent)
    entry = (manifest or {}).get("models", {}).get(folder.name)
    if entry is not None:
        for name, expected in entry["files"].items():
            path = folder / name
            if not path.is_file():
                raise ExportError(
                    f"{path} is missing (listed in {folder.parent / MANIFEST_NAME}); "
                    "reinstall tfembed or rebuild the models with tools/release/build_models.sh"
                )
            if path.stat().st_size != expected["size"] or file_digest(path) != expected["sha256"]:
                raise ExportError(
                    f"{path} does not match its sha256 in {folder.parent / MANIFEST_NAME}: "
                    "the file is corrupt or was changed; reinstall tfembed or rebuild "
                    "the models with tools/release/build_models.sh"
                )
    _verified.add(folder)


def resolve_model(name_or_path: str | os.PathLike) -> Path:
    """Finds a model folder by path or bare name and checks it against its manifest.

    Args:
        name_or_path: A folder written by ``tfembed-export``, or the name of a
            shipped model (``mel_mel``, ``sym_sym``, ``mel_sym``, ``sym_mel``) or of
            a model in a ``$TFEMBED_MODELS`` folder.

    Returns:
        The model folder.

    Raises:
        UnknownModelError: Nothing of that name exists (the message lists the
            models available).
        ExportError: A file differs from the manifest.
    """
    path = Path(name_or_path)
    if path.exists():
        verify_model(path)
        return path
    if len(path.parts) == 1:
        for root in model_roots():
            candidate = root / path.name
            if candidate.is_dir():
                verify_model(candidate)
                return candidate
    searched = ", ".join(str(root) for root in model_roots()) or "none"
    available = ", ".join(available_models()) or "none"
    if len(path.parts) > 1:
        raise UnknownModelError(
            f"{path} does not exist; give a folder written by tfembed-export or the "
            f"name of a model (available: {available})"
        )
    raise UnknownModelError(
        f"no model {str(name_or_path)!r}: it is not a folder, and no folder of models "
        f"holds it (searched ${MODELS_ENV} and the installed models: {searched}); "
        f"available: {available}"
    )
