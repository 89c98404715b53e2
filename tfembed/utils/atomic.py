"""Atomic file writes: a reader sees the old file or the whole new one, never a part."""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
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
    temporary = _create_temporary(path)
    try:
        yield temporary
        with open(temporary, "rb+") as stream:
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _create_temporary(path: Path) -> Path:
    """Creates an empty, new temporary file beside ``path`` with the umask's mode.

    Unlike ``tempfile.mkstemp`` (always 0600), the file is created with mode 0666
    less the umask, like any file ``open`` creates, so a dataset or an export
    written here is as readable as the user's other files.
    """
    while True:
        name = path.parent / f".{path.name}.{secrets.token_hex(4)}{TEMPORARY_SUFFIX}"
        try:
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return name


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
