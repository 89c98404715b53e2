"""What native libraries print straight to the process's stderr, collected instead."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def native_stderr() -> Iterator[list[str]]:
    """Collects what is written to file descriptor 2 in the block, rather than showing it.

    C libraries (fluidsynth, libsndfile's MP3 decoder) print there directly, past
    Python's ``sys.stderr``. The yielded list is filled with the lines when the
    block ends.
    """
    lines: list[str] = []
    sys.stderr.flush()
    with tempfile.TemporaryFile() as sink:
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines += sink.read().decode(errors="replace").splitlines()
