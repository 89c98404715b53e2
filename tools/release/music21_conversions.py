"""Rebuilds the shipped music21 conversions of the default corpus selection.

    python tools/release/music21_conversions.py --workers 2

Converts every score of the default selection (``tfembed-prepare --corpus music21``
with its default composers and cap) with the installed music21, never from a
cache, and writes ``tfembed/preparation/music21_conversions.zip`` with members
named as ``corpus_midi`` caches them: ``music21-VERSION/PATH.mid``, or
``PATH.failed.txt`` holding the reason a score cannot be converted. The archive
is deterministic (sorted members, fixed timestamps), so an unchanged music21
rebuilds it byte for byte. Run it whenever constraints.txt changes music21.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import io
import sys
import zipfile
from multiprocessing import Pool
from pathlib import Path

from tfembed.errors import PieceError
from tfembed.preparation.corpus import (
    DEFAULT_PIECES_PER_COMPOSER,
    SHIPPED_CONVERSIONS,
    convert_score,
    corpus_root,
    list_corpus,
)
from tfembed.utils.atomic import write_bytes_atomically

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def _member(relative_path: str) -> tuple[str, bytes]:
    """The archive member of one score: its MIDI, or the reason it fails."""
    prefix = f"music21-{importlib.metadata.version('music21')}/{relative_path}"
    try:
        return f"{prefix}.mid", convert_score(corpus_root() / relative_path)
    except PieceError as error:
        return f"{prefix}.failed.txt", str(error).encode()


def build_archive(relative_paths: list[str], workers: int) -> bytes:
    """Converts the scores and returns the deterministic zip archive of the results."""
    with Pool(workers) as pool:
        members = sorted(pool.imap_unordered(_member, relative_paths))
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return output.getvalue()


def main(argv: list[str] | None = None) -> int:
    """Converts the default selection and writes the archive; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="conversion processes")
    parser.add_argument("--out", type=Path, default=SHIPPED_CONVERSIONS, help="archive to write")
    args = parser.parse_args(argv)
    pieces = list_corpus(pieces_per_composer=DEFAULT_PIECES_PER_COMPOSER)
    archive = build_archive([piece.path for piece in pieces], args.workers)
    write_bytes_atomically(args.out, [archive])
    with zipfile.ZipFile(args.out) as written:
        failed = sum(name.endswith(".failed.txt") for name in written.namelist())
    print(f"{args.out}: {len(pieces)} scores, {failed} cannot be converted, {len(archive):,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
