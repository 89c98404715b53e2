"""One process at a time per output folder: an advisory lock on a file inside it.

The lock is ``fcntl.flock`` on ``FOLDER/.tfembed.lock``. The kernel releases it
when the holding process ends, however it ends (even ``kill -9``), so a crashed
run never leaves a stale lock; the file itself stays, holding the last holder's
PID, and is harmless.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from tfembed.errors import TfembedError

LOCK_NAME = ".tfembed.lock"
"""Name of the lock file inside a locked folder (callers listing a folder skip it)."""


class LockError(TfembedError):
    """Another process holds the folder, or the folder cannot be used at all."""


@contextlib.contextmanager
def hold_lock(folder: str | os.PathLike, what: str) -> Iterator[Path]:
    """Holds an exclusive lock on ``folder`` (created if missing) for the ``with`` block.

    Args:
        folder: The folder to lock, for example a preparation's ``--out`` or a
            training run's ``--model_dir``.
        what: What the folder is, for messages (``"preparation"``, ``"training run"``).

    Yields:
        The lock file's path.

    Raises:
        LockError: ``folder`` is a file (or cannot be created), or another process
            holds it; the message names the folder and the holder's PID.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise LockError(f"{folder} is a file, not a folder; give a folder path for the {what}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as error:
        raise LockError(f"cannot use {folder} for the {what}: {error.strerror or error}") from error
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise LockError(
                    f"cannot lock {folder} for the {what}: {error.strerror or error}"
                ) from error
            holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip() or "unknown"
            raise LockError(
                f"{folder} is in use by another {what} (process {holder}); wait for it to "
                "finish or stop it, or choose another folder"
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        yield folder / LOCK_NAME
    finally:
        os.close(descriptor)  # closing releases the lock
