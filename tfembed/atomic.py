"""Atomic file writes: a reader sees the old file or the whole new one, never a part."""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

TEMPORARY_SUFFIX = ".tmp"
"""Suffix of the temporary files an interrupted write may leave behind."""


@contextlib.contextmanager
def atomic_destination(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path beside ``path``; moves it onto ``path`` on success.

    Write the whole file to the yielded path inside the ``with`` block. On leaving
    it, the file is fsynced and renamed over ``path`` in one step; if the block
    raises (or the process is interrupted), ``path`` is left untouched and the
    temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX
    )
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        with open(temporary, "rb+") as stream:
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_bytes_atomically(path: str | os.PathLike, chunks: Iterable[bytes]) -> None:
    """Writes ``chunks`` to ``path`` atomically (see :func:`atomic_destination`)."""
    with atomic_destination(path) as temporary, open(temporary, "wb") as stream:
        for chunk in chunks:
            stream.write(chunk)


def write_json_atomically(path: str | os.PathLike, value: Any) -> None:
    """Writes ``value`` as indented JSON to ``path`` atomically."""
    text = json.dumps(value, indent=2) + "\n"
    write_bytes_atomically(path, [text.encode()])


def write_npz_atomically(path: str | os.PathLike, arrays: dict[str, Any]) -> None:
    """Writes named arrays as an uncompressed ``.npz`` to ``path`` atomically."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_bytes_atomically(path, [buffer.getvalue()])


def remove_temporary_files(folder: str | os.PathLike) -> int:
    """Deletes temporary files left in ``folder`` by interrupted writes; returns how many."""
    leftovers = list(Path(folder).glob(f".*{TEMPORARY_SUFFIX}"))
    for leftover in leftovers:
        leftover.unlink(missing_ok=True)
    return len(leftovers)
