"""Atomic file writes: a reader sees the old file or the whole new one, never a part."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def write_bytes_atomically(path: str | os.PathLike, chunks: Iterable[bytes]) -> None:
    """Writes ``chunks`` to ``path`` through a temporary file in the same folder.

    The data is flushed and fsynced before the temporary file is renamed over
    ``path``, so an interrupted write leaves either the previous file or nothing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            for chunk in chunks:
                stream.write(chunk)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json_atomically(path: str | os.PathLike, value: Any) -> None:
    """Writes ``value`` as indented JSON to ``path`` atomically."""
    text = json.dumps(value, indent=2, sort_keys=False) + "\n"
    write_bytes_atomically(path, [text.encode()])
