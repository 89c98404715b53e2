"""Querying an index with files (``tfembed-search query``).

Each query file is embedded with the index's model at the index's hop (read as
``tfembed-embed`` reads inputs), its windows that reach past its end dropped
unless it has no other, and the indexed files ranked by the best diagonal
alignment of those windows (:mod:`tfembed.search.scoring`). A file of the index
that is the query itself is never among its matches.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tfembed.errors import TfembedError
from tfembed.search.scoring import DEFAULT_CHUNK_WINDOWS, best_alignments, ranked, unit_rows

if TYPE_CHECKING:
    from tfembed.inference.embedder import Embedder
    from tfembed.search.index import SearchIndex

DEFAULT_TOP = 10


@dataclasses.dataclass(frozen=True)
class QueryResult:
    """The matches of one query file, or why it could not be searched.

    Attributes:
        query: The query file.
        windows: Its windows searched with (0 when it failed).
        matches: ``{"file", "start", "score"}`` best first: ``start`` is the time
            in seconds in the matched file where the query's beginning falls
            (negative when the file is shorter than the query and starts within it).
        error: Why the query failed (``None`` when it was searched).
    """

    query: Path
    windows: int = 0
    matches: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    error: str | None = None


def search_index(
    index: SearchIndex,
    embedder: Embedder,
    inputs: list[str | os.PathLike],
    top: int = DEFAULT_TOP,
    chunk_windows: int = DEFAULT_CHUNK_WINDOWS,
) -> Iterator[QueryResult]:
    """Searches the index with every query file (folders are walked), one result each.

    Args:
        index: The opened index.
        embedder: Its model (:func:`tfembed.search.model.index_embedder`).
        inputs: Query MIDI files, audio files and folders of them.
        top: Matches per query.
        chunk_windows: Index rows scored at a time (bounds memory; no effect on results).

    Yields:
        One :class:`QueryResult` per query file, in listing order; a file that
        cannot be read or embedded yields its error and the others go on.

    Raises:
        ExportError: The model cannot be loaded.
    """
    from tfembed.inference.batch_embed import list_inputs

    embedder.load_model()
    hop_frames = embedder.hop_frames(index.hop_seconds)
    lengths = index.lengths
    indexed: np.ndarray | None = None
    for item in list_inputs(inputs):
        if item.problem is not None:
            yield QueryResult(item.path, error=item.problem)
            continue
        query = _query_windows(embedder, item.path, hop_frames, index.mean)
        if isinstance(query, str):
            yield QueryResult(item.path, error=query)
            continue
        if indexed is None:
            indexed = np.array([os.path.realpath(entry["path"]) for entry in index.files])
        alignments = best_alignments(index.windows, lengths, query, chunk_windows)
        best = ranked(alignments.score, top, indexed == os.path.realpath(item.path))
        matches = [
            {
                "file": index.files[file]["path"],
                "start": round(float(alignments.offset[file] * index.hop_seconds), 3),
                "score": round(float(alignments.score[file]), 4),
            }
            for file in best
        ]
        yield QueryResult(item.path, len(query), matches)


def _query_windows(
    embedder: Embedder, path: Path, hop_frames: int, mean: np.ndarray
) -> np.ndarray | str:
    """A query's windows as the index's (centred, unit length), or why it cannot be embedded.

    Windows that reach past the query's end are dropped, unless it has no other.
    """
    from tfembed.inference.batch_embed import read_input

    read = read_input(embedder.reader, path)
    if isinstance(read, str):
        return read
    try:
        embedded = embedder.embed_read(read, hop_frames)
    except TfembedError as error:
        return str(error)
    except OSError as error:
        return f"cannot read the file: {error.strerror or error}"
    whole = ~embedded.padded
    return unit_rows((embedded.embedding[whole] if whole.any() else embedded.embedding) - mean)


def results_json(index: SearchIndex, results: list[QueryResult]) -> dict[str, Any]:
    """The JSON of a query run: the model, the index, each query's matches, the failures."""
    return {
        "model": index.record["model"],
        "index": str(index.folder),
        "hop_seconds": index.hop_seconds,
        "queries": [
            {"query": str(result.query), "windows": result.windows, "matches": result.matches}
            for result in results
            if result.error is None
        ],
        "failed": [
            {"query": str(result.query), "error": result.error}
            for result in results
            if result.error is not None
        ],
    }
