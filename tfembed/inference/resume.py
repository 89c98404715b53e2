"""What ``tfembed-embed`` has already written into an output folder, so a rerun resumes.

Every input embedded is appended, as one JSON line, to a journal in the output
folder as soon as its ``.npz`` is written, so an interrupted run (Ctrl-C, a
killed job, a full disk) leaves a record of what it finished. When a run ends,
``index.json`` holds the same entries and the journal is removed. A rerun into
the same folder with the same model and settings reuses every input whose
file is unchanged (same size and modification time) and whose output is still
there; anything else is embedded again. Failed inputs are always retried.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from tfembed.export.format import METADATA_NAME

JOURNAL_NAME = ".tfembed-embed-journal.jsonl"
"""Journal of the inputs a run has finished, removed when the run ends."""
_MODEL_FILES = (METADATA_NAME, "saved_model.pb", "variables/variables.index")


def model_identity(saved_model: str | os.PathLike) -> str:
    """A digest of an export's metadata, graph and weights index (changes with the weights)."""
    digest = hashlib.sha256()
    for name in _MODEL_FILES:
        path = Path(saved_model) / name
        digest.update(name.encode() + b"\0")
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def input_stamp(path: Path) -> dict[str, int]:
    """The size and modification time of an input, to tell whether it changed."""
    status = path.stat()
    return {"input_bytes": status.st_size, "input_mtime_ns": status.st_mtime_ns}


def _entries_of(folder: Path, settings: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Finished entries recorded in ``folder`` with these settings, by input path."""
    entries: dict[str, dict[str, Any]] = {}
    try:
        index = json.loads((folder / "index.json").read_text())
    except (OSError, ValueError):
        index = {}
    if isinstance(index, dict) and index.get("settings") == settings:
        entries.update((entry["input"], entry) for entry in index.get("files", ()))
    try:
        lines = (folder / JOURNAL_NAME).read_text().splitlines()
    except OSError:
        lines = []
    if lines and _parsed(lines[0]) == {"settings": settings}:
        for line in lines[1:]:
            entry = _parsed(line)  # the last line may be cut by the interruption
            if isinstance(entry, dict) and "input" in entry:
                entries[entry["input"]] = entry
    return {key: entry for key, entry in entries.items() if entry.get("status") == "done"}


def _parsed(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


class Journal:
    """The record of a run's finished inputs in its output folder.

    Args:
        folder: The output folder.
        settings: What the outputs depend on besides the input (model, hop,
            length cap, soundfont); earlier entries count only under the same.
    """

    def __init__(self, folder: Path, settings: dict[str, Any]) -> None:
        self.folder, self.settings = folder, settings
        self.earlier = _entries_of(folder, settings)
        folder.mkdir(parents=True, exist_ok=True)
        self._stream = open(folder / JOURNAL_NAME, "w", encoding="utf-8")  # noqa: SIM115
        self._write({"settings": settings})
        for entry in self.earlier.values():  # kept, in case this run is interrupted too
            self._write(entry)

    def reusable(self, path: Path, output: Path) -> dict[str, Any] | None:
        """The earlier entry of an unchanged input whose output is still there, or ``None``."""
        entry = self.earlier.get(str(path))
        if (
            entry is None
            or entry.get("output") != output.as_posix()
            or not (self.folder / output).is_file()
        ):
            return None
        try:
            stamp = input_stamp(path)
        except OSError:
            return None
        return entry if all(entry.get(key) == value for key, value in stamp.items()) else None

    def record(self, entry: dict[str, Any]) -> None:
        """Appends a finished input (an entry of ``index.json``)."""
        if entry.get("status") == "done":
            self._write(entry)

    def _write(self, value: dict[str, Any]) -> None:
        self._stream.write(json.dumps(value) + "\n")
        self._stream.flush()

    def close(self, finished: bool) -> None:
        """Closes the journal; removes it when the run finished (``index.json`` holds it all)."""
        self._stream.close()
        if finished:
            (self.folder / JOURNAL_NAME).unlink(missing_ok=True)
