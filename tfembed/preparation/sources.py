"""Listing the pieces to prepare: a folder of MIDI files, or the music21 corpus."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import os
import re
from pathlib import Path

from tfembed.dataset.manifest import ALL_SPLITS
from tfembed.errors import TfembedError
from tfembed.utils.files import find_files

MIDI_SUFFIXES = (".mid", ".midi", ".kar", ".smf", ".rmi")
"""File suffixes taken as MIDI (case-insensitive): Standard MIDI Files, karaoke files
and RIFF MIDI (Windows' ``.rmi``, unwrapped when read)."""

MUSIC21_ORIGIN = "music21"
MIDI_ORIGIN = "midi"


@dataclasses.dataclass(frozen=True)
class Piece:
    """One piece to prepare.

    Attributes:
        piece_id: Stable identifier: a readable slug of the path plus a hash.
        origin: ``"midi"`` (a file on disk) or ``"music21"`` (a corpus score).
        path: The MIDI file, or the score's path relative to the music21 corpus.
        composer_name: Composer label ("" when unknown).
        split: Split given by the metadata, or ``None`` to assign one.
        title: Title when the metadata gives one.
        work: The work the piece belongs to (movements of a sonata, several
            performances of one composition); splits never divide a work.
            Empty means the piece is a work of its own.
    """

    piece_id: str
    origin: str
    path: str
    composer_name: str
    split: str | None = None
    title: str = ""
    work: str = ""


class SourceError(TfembedError):
    """The source folder or metadata cannot be used at all."""


def piece_id_for(relative_path: str) -> str:
    """Returns a stable, file-name-safe id for a path relative to its source root.

    File names that are not valid UTF-8 (Python holds their bytes as surrogate
    escapes) get an id from their raw bytes.
    """
    stem = os.path.splitext(relative_path)[0]
    slug = re.sub(r"[^A-Za-z0-9]+", "_", stem).strip("_")[-60:] or "piece"
    digest = hashlib.sha1(relative_path.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{slug}-{digest}"


def readable_name(name: str) -> str:
    """``name`` with the undecodable bytes of a non-UTF-8 file name shown as U+FFFD.

    Labels (a composer's folder) are stored as UTF-8 text, which cannot hold the
    surrogate escapes Python uses for such bytes.
    """
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def list_midi_dir(
    midi_dir: str | os.PathLike, metadata: str | os.PathLike | None = None
) -> tuple[list[Piece], list[dict[str, str]]]:
    """Lists the MIDI files of a folder, recursively.

    Without metadata, the composer is the first-level subfolder a file is in
    (files directly in ``midi_dir`` have no composer). With a metadata CSV in
    MAESTRO's format (``canonical_composer``, ``canonical_title``, ``split``,
    ``midi_filename`` relative to ``midi_dir``), exactly the listed files are
    prepared, with the listed composer and split. A piece's work is its file,
    or with metadata its composer and ``canonical_title``, so that several
    performances of one composition stay in one split.

    Returns:
        The pieces, sorted by path, and problems found while listing (folders
        that cannot be read, files listed in the metadata but missing), as
        ``{"file", "problem"}`` dicts.

    Raises:
        SourceError: ``midi_dir`` is not a folder, or the metadata lacks a column.
    """
    root = Path(midi_dir)
    if not root.is_dir():
        raise SourceError(f"--midi_dir {root} is not a folder")
    if metadata is None:
        pieces = []
        paths, problems = find_files(root, MIDI_SUFFIXES)
        for path in paths:
            relative = path.relative_to(root).as_posix()
            composer = readable_name(relative.split("/")[0]) if "/" in relative else ""
            pieces.append(
                Piece(
                    piece_id_for(relative),
                    MIDI_ORIGIN,
                    str(path),
                    composer,
                    work=readable_name(relative),
                )
            )
        return pieces, problems
    return _list_from_metadata(root, Path(metadata))


def _read_metadata(metadata: Path) -> list[dict[str, str]]:
    """Reads a MAESTRO-style CSV; every problem is a :class:`SourceError` with its fix."""
    required = {"canonical_composer", "midi_filename"}
    try:
        with open(metadata, newline="", encoding="utf-8") as stream:
            reader = csv.DictReader(stream)
            rows = list(reader)
            columns = reader.fieldnames or []
    except OSError as error:
        raise SourceError(f"cannot read --metadata {metadata}: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise SourceError(
            f"--metadata {metadata} is not UTF-8 text (byte 0x{error.object[error.start]:02x} "
            f"at offset {error.start}; Latin-1 or Windows-1252?): save it as UTF-8"
        ) from error
    except csv.Error as error:
        raise SourceError(f"--metadata {metadata} is not a readable CSV: {error}") from error
    if not columns:
        raise SourceError(f"--metadata {metadata} is empty; expected a header and a row per file")
    missing_columns = required - set(columns)
    if missing_columns:
        raise SourceError(
            f"--metadata {metadata} lacks column(s) {sorted(missing_columns)} "
            f"(its header has {columns})"
        )
    if not rows:
        raise SourceError(f"--metadata {metadata} has a header but no rows: list the files")
    for line, row in enumerate(rows, start=2):
        if any(row.get(column) is None for column in columns):
            raise SourceError(
                f"--metadata {metadata}: row {line} has fewer fields than the header "
                f"({len(columns)}); fix or remove that row"
            )
    return rows


def _list_from_metadata(root: Path, metadata: Path) -> tuple[list[Piece], list[dict[str, str]]]:
    rows = _read_metadata(metadata)
    pieces, problems = [], []
    for row in rows:
        relative = row["midi_filename"]
        path = root / relative
        split = (row.get("split") or "").strip() or None
        if split is not None and split not in ALL_SPLITS:
            problems.append({"file": str(path), "problem": f"unknown split {split!r} in metadata"})
            continue
        if not path.is_file():
            problems.append({"file": str(path), "problem": "listed in the metadata but missing"})
            continue
        composer, title = row["canonical_composer"].strip(), row.get("canonical_title", "").strip()
        pieces.append(
            Piece(
                piece_id_for(relative),
                MIDI_ORIGIN,
                str(path),
                composer,
                split,
                title,
                # Performances of one composition share composer and title.
                f"{composer}/{title}" if title else relative,
            )
        )
    return sorted(pieces, key=lambda piece: piece.path), problems
