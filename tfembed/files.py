"""Checks on users' input files, shared by preparation and embedding."""

from __future__ import annotations

import os
import stat

from tfembed.errors import PieceError

_FILE_KINDS = {
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


class UnreadableFileError(PieceError):
    """A file that could not be read (permissions, I/O): not a defect of its content."""


def check_regular_file(path: str | os.PathLike) -> None:
    """Checks that ``path`` (or what its links point to) is a regular file, before opening it.

    Opening a named pipe for reading waits for a writer, so a FIFO named
    ``song.mid`` would hang a run forever.

    Raises:
        UnreadableFileError: The file cannot be reached (missing, a broken or
            looping link, a folder without permission).
        PieceError: It is a named pipe, socket, device or folder, not a file.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        raise UnreadableFileError(f"cannot read the file: {error.strerror or error}") from error
    if stat.S_ISDIR(mode):
        raise PieceError("is a folder, not a file")
    if not stat.S_ISREG(mode):
        kind = _FILE_KINDS.get(stat.S_IFMT(mode), "a special file")
        raise PieceError(f"not a regular file but {kind}; copy its content to a file")
