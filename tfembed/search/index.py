"""The search matrix of an index folder: one row per window of every embedded file.

``IDX/search.json`` records the model (name, folder, metadata variant and
:func:`tfembed.inference.resume.model_identity`), the hop, the settings the
windows were embedded with, the files and folders the index was given, the
files table (for each embedded file its path, kind ``midi`` or ``audio``,
windows, length in seconds, first row in the matrix and the ``.npz`` it came
from) and the mean window of the index. The matrix ``IDX/windows-<token>.npy``,
named in ``search.json`` and read as a memory map, holds every window minus the
mean, scaled to unit length, as float16 ``[windows, 128]``: the windows of one
model share a large common direction, and cosines of centred windows tell
related from unrelated ones far better (queries are centred by the same mean).

Writing a new matrix writes it under a new name first, then ``search.json``
atomically, then removes the old matrix: a reader sees the old index or the new
one whole.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from pathlib import Path
from typing import Any

import numpy as np

from tfembed.errors import TfembedError
from tfembed.search.scoring import unit_rows

SEARCH_NAME = "search.json"
"""The record of an index (model, hop, files table, matrix)."""
FORMAT = 1
MATRIX_DTYPE = np.float16
"""The matrix's rows: unit-length cosines lose under 1e-3 to float16, and the index halves."""
_MATRIX_PATTERN = "windows-*.npy"
DERIVED = ("files", "mean", "matrix")
"""The keys of ``search.json`` that :func:`write_index` adds to the record it is given."""


class SearchIndexError(TfembedError):
    """An index that cannot be read, or cannot be used as asked (another model, another hop)."""


@dataclasses.dataclass(frozen=True)
class SearchIndex:
    """An index folder as read for searching.

    Attributes:
        folder: The index folder.
        record: Its ``search.json``.
        windows: ``[windows, size]`` unit-length rows (a read-only memory map).
    """

    folder: Path
    record: dict[str, Any]
    windows: np.ndarray

    @property
    def files(self) -> list[dict[str, Any]]:
        """The files table, in row order."""
        return self.record["files"]

    @property
    def lengths(self) -> np.ndarray:
        """int64 ``[files]``: windows of each file, in row order."""
        return np.array([entry["windows"] for entry in self.files], np.int64)

    @property
    def mean(self) -> np.ndarray:
        """float32 ``[size]``: the index's mean window, subtracted before lengths are set."""
        return np.asarray(self.record["mean"], np.float32)

    @property
    def hop_seconds(self) -> float:
        """Seconds between window starts, in the index and in queries."""
        return self.record["hop_seconds"]


def read_record(folder: str | Path) -> dict[str, Any] | None:
    """The ``search.json`` of a folder, or ``None`` when it has none.

    Raises:
        SearchIndexError: It is unreadable, or of another format.
    """
    path = Path(folder) / SEARCH_NAME
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise SearchIndexError(
            f"{path} is unreadable or corrupt ({error}); build the index again"
        ) from error
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise SearchIndexError(
            f"{path} is not a tfembed-search index of format {FORMAT}; build the index again"
        )
    return record


def open_index(folder: str | Path) -> SearchIndex:
    """Opens an index for searching (the matrix is memory-mapped, not read).

    Raises:
        SearchIndexError: ``folder`` is not an index, or its matrix is missing or
            does not match its files table.
    """
    folder = Path(folder)
    record = read_record(folder)
    if record is None:
        what = "does not exist" if not folder.exists() else f"has no {SEARCH_NAME}"
        raise SearchIndexError(
            f"{folder} {what}: it is not a search index; build one with "
            "tfembed-search index --model MODEL --out FOLDER FILES_OR_FOLDERS"
        )
    path = folder / record["matrix"]
    try:
        windows = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as error:
        raise SearchIndexError(
            f"{path} is missing or corrupt ({error}); build the index again"
        ) from error
    expected = (sum(entry["windows"] for entry in record["files"]), record["embedding_size"])
    if windows.shape != expected:
        raise SearchIndexError(
            f"{path} holds {windows.shape} windows, not {expected} as {SEARCH_NAME} says; "
            "build the index again"
        )
    return SearchIndex(folder, record, windows)


def files_table(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The files table of the embedded ``entries`` of ``index.json``, in row order."""
    from tfembed.inference.inputs import is_audio

    files, row = [], 0
    for entry in entries:
        files.append(
            {
                "path": entry["input"],
                "kind": "audio" if is_audio(entry["input"]) else "midi",
                "windows": entry["clips"],
                "seconds": entry.get("seconds"),
                "first_window": row,
                "output": entry["output"],
                "input_bytes": entry.get("input_bytes"),
                "input_mtime_ns": entry.get("input_mtime_ns"),
            }
        )
        row += entry["clips"]
    return files


def write_index(
    folder: Path, record: dict[str, Any], files: list[dict[str, Any]]
) -> dict[str, Any]:
    """Writes the matrix of ``files`` and ``search.json``; removes the old matrix.

    Args:
        folder: The index folder (locked by the caller), holding the files' ``.npz``.
        record: ``search.json`` but the files table, mean window and matrix name
            (:data:`DERIVED`, added here).
        files: :func:`files_table` of what is embedded in ``folder``.

    Returns:
        The ``search.json`` written.
    """
    from tfembed.utils.atomic import atomic_destination, write_json_atomically

    rows = sum(entry["windows"] for entry in files)
    total = np.zeros(record["embedding_size"], np.float64)
    for entry in files:
        total += np.load(folder / entry["output"])["embedding"].sum(axis=0, dtype=np.float64)
    mean = (total / max(rows, 1)).astype(np.float32)
    name = f"windows-{secrets.token_hex(4)}.npy"
    with atomic_destination(folder / name) as temporary:
        matrix = np.lib.format.open_memmap(
            temporary, mode="w+", dtype=MATRIX_DTYPE, shape=(rows, record["embedding_size"])
        )
        for entry in files:
            embedding = np.load(folder / entry["output"])["embedding"]
            first = entry["first_window"]
            matrix[first : first + len(embedding)] = unit_rows(embedding - mean)
        matrix.flush()
        del matrix
    written = {**record, "files": files, "mean": mean.tolist(), "matrix": name}
    write_json_atomically(folder / SEARCH_NAME, written)
    for old in folder.glob(_MATRIX_PATTERN):
        if old.name != name:
            old.unlink(missing_ok=True)
    return written
