"""Checks on users' input files, shared by preparation and embedding."""

from __future__ import annotations

import os
import stat
from pathlib import Path

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


def find_files(
    root: str | os.PathLike, suffixes: tuple[str, ...]
) -> tuple[list[Path], list[dict[str, str]]]:
    """Lists the files under ``root`` with one of ``suffixes`` (case-insensitive), recursively.

    Links to folders are followed, as a user who links a folder into a
    collection expects (``Path.rglob`` skips them silently); each real folder is
    read once, so a link loop ends. Broken links and unreadable files are listed
    too, so that opening them reports them; folders named like a file are not.

    Args:
        root: The folder.
        suffixes: Lower-case suffixes with their dot, such as ``(".mid", ".midi")``.

    Returns:
        The files, sorted, and the folders that could not be read, as
        ``{"file", "problem"}`` dicts.
    """
    found: list[Path] = []
    problems: list[dict[str, str]] = []
    seen: set[tuple[int, int]] = set()

    def unreadable(error: OSError) -> None:
        problems.append(
            {
                "file": str(error.filename),
                "problem": f"cannot read the folder: {error.strerror}; its files are left out",
            }
        )

    for folder, folders, files in os.walk(root, onerror=unreadable, followlinks=True):
        try:
            info = os.stat(folder)
        except OSError:
            continue
        if (info.st_dev, info.st_ino) in seen:
            folders.clear()  # a link back to a folder already read
            continue
        seen.add((info.st_dev, info.st_ino))
        found += [Path(folder, name) for name in files if Path(name).suffix.lower() in suffixes]
    return sorted(found), problems
