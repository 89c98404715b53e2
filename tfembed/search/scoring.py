"""Exact search of a query's windows along the windows of every indexed file (NumPy only).

A query of ``m`` windows ``q_0 .. q_{m-1}`` is laid against an indexed file of
``n`` windows ``g_0 .. g_{n-1}`` (the same hop) at every offset ``o`` (in
windows) where the shorter of the two lies wholly within the longer:

* ``m <= n``: ``0 <= o <= n - m``, every query window overlaps the file;
* ``m > n``: ``n - m <= o <= 0``, the whole file overlaps the query (the file
  starts ``-o`` windows into the query).

The score of an offset is the mean cosine over the overlapping windows,
``mean_k cos(q_k, g_{o+k})``; a file's score is that of its best offset (the
earliest among equals). Only full overlaps count, so a file is never matched by
a few windows at one of its ends.

The index is read in chunks of rows, so memory stays in ``O(chunk x m)``
whatever the index's size; within a chunk, the cosines ``S = rows @ q.T`` are
summed along their diagonals (row ``d + k``, query window ``k``) by a strided view
and one cumulative sum, so every offset of every file costs two look-ups.
"""

from __future__ import annotations

import dataclasses

import numpy as np

DEFAULT_CHUNK_WINDOWS = 65_536
"""Index rows read and scored at a time."""
_BLOCK_ROWS = 2048
"""Rows of a chunk converted to float32 and multiplied at a time (kept in the CPU's cache)."""


@dataclasses.dataclass(frozen=True)
class Alignments:
    """The best alignment of a query with each indexed file.

    Attributes:
        score: float32 ``[files]``: the mean cosine at the best offset.
        offset: int64 ``[files]``: that offset in windows (the file's window where
            the query's first window falls; negative when the file starts within
            the query).
    """

    score: np.ndarray
    offset: np.ndarray


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """The rows of ``matrix`` as float32 scaled to unit length (rows of zeros stay zeros)."""
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0).astype(np.float32)


def best_alignments(
    windows: np.ndarray,
    lengths: np.ndarray,
    query: np.ndarray,
    chunk_windows: int = DEFAULT_CHUNK_WINDOWS,
) -> Alignments:
    """Scores every offset of a query along every indexed file; keeps each file's best.

    Args:
        windows: ``[rows, size]`` unit-length window embeddings of every file, one
            file after the other (any float dtype; a memory map is read a chunk at
            a time).
        lengths: ``[files]`` windows of each file, in row order (each at least 1,
            summing to ``rows``).
        query: ``[m, size]`` unit-length window embeddings of the query (``m >= 1``).
        chunk_windows: Offsets scored at a time; memory is ``O((chunk + m) x m)``.
            Results do not depend on it.

    Returns:
        Each file's best score and offset (see the module's docstring).
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    query = np.asarray(query, dtype=np.float32)
    first = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    best = Alignments(np.full(len(lengths), -np.inf, np.float32), np.zeros(len(lengths), np.int64))
    for start in range(0, len(windows), max(1, int(chunk_windows))):
        end = min(start + max(1, int(chunk_windows)), len(windows))
        _score_chunk(windows, first, lengths, query, start, end, best)
    return best


def _score_chunk(
    windows: np.ndarray,
    first: np.ndarray,
    lengths: np.ndarray,
    query: np.ndarray,
    start: int,
    end: int,
    best: Alignments,
) -> None:
    """Scores the offsets anchored in rows ``[start, end)``; updates ``best`` in place.

    An offset is anchored at its first overlapping row when the query fits in
    the file, at the file's first row otherwise.
    """
    m = len(query)
    files, offsets, overlap = _anchored_offsets(first, lengths, m, start, end)
    if not len(files):
        return
    # cosines of rows [start, end + m - 1), with m - 1 rows of zeros before and after
    base = start - (m - 1)
    cosines = np.zeros((end - start + 2 * (m - 1), m), np.float32)
    for block in range(start, min(end + m - 1, len(windows)), _BLOCK_ROWS):
        rows = _float32(windows[block : min(block + _BLOCK_ROWS, end + m - 1)])
        at = block - base
        np.matmul(rows, query.T, out=cosines[at : at + len(rows)])
    # diagonal j (first row base + j): diagonals[j, k] = cosines[j + k, k]
    step_row, step_column = cosines.strides
    diagonals = np.lib.stride_tricks.as_strided(
        cosines, (end - start + m - 1, m), (step_row, step_row + step_column), writeable=False
    )
    running = np.cumsum(diagonals, axis=1)
    diagonal = first[files] + offsets - base
    k_first = np.maximum(0, -offsets)
    total = running[diagonal, k_first + overlap - 1]
    before = running[diagonal, np.maximum(k_first - 1, 0)]
    score = (total - np.where(k_first > 0, before, 0.0)) / overlap
    _keep_best(files, offsets, score.astype(np.float32), best)


def _float32(rows: np.ndarray) -> np.ndarray:
    """Rows as float32; finite float16 by moving their bits (NumPy's own cast is 3x slower).

    The half's exponent and mantissa, shifted into a float32's, read 2^112 too
    small (the exponent biases differ by 127 - 15); multiplying by 2^112 gives
    the exact value, subnormal halves included; then the sign is set.
    """
    if rows.dtype != np.float16:
        return np.asarray(rows, np.float32)
    bits = np.asarray(rows).view(np.uint16).astype(np.uint32)
    values = ((bits & 0x7FFF) << 13).view(np.float32)
    values *= np.float32(2.0**112)
    values.view(np.uint32)[...] |= (bits & 0x8000) << 16
    return values


def _anchored_offsets(
    first: np.ndarray, lengths: np.ndarray, m: int, start: int, end: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (file, offset) anchored in rows ``[start, end)``, grouped by file, and its overlap."""
    low = max(0, int(np.searchsorted(first, start, side="right")) - 1)
    high = int(np.searchsorted(first, end, side="left"))
    fs, n = first[low:high], lengths[low:high]
    fits = n >= m
    # query within the file: offsets whose first row is in [start, end)
    lowest = np.where(fits, np.maximum(0, start - fs), n - m)
    highest = np.where(fits, np.minimum(n - m, end - 1 - fs), 0)
    # file within the query: every offset, anchored at the file's first row
    highest = np.where(~fits & (fs < start), lowest - 1, highest)
    counts = np.maximum(highest - lowest + 1, 0)
    files = np.repeat(np.arange(low, high), counts)
    group_starts = np.cumsum(counts) - counts
    offsets = np.repeat(lowest - group_starts, counts) + np.arange(counts.sum())
    return files, offsets, np.minimum(lengths[files], m)


def _keep_best(files: np.ndarray, offsets: np.ndarray, score: np.ndarray, best: Alignments) -> None:
    """Updates each file's best score and offset with those of its offsets (grouped by file)."""
    changes = np.flatnonzero(np.diff(files)) + 1
    group_starts = np.concatenate([[0], changes])
    group_files = files[group_starts]
    maxima = np.maximum.reduceat(score, group_starts)
    counts = np.diff(np.append(group_starts, len(files)))
    at_max = np.flatnonzero(score == np.repeat(maxima, counts))
    _, first_at_max = np.unique(files[at_max], return_index=True)  # the earliest offset
    better = maxima > best.score[group_files]
    best.score[group_files[better]] = maxima[better]
    best.offset[group_files[better]] = offsets[at_max[first_at_max]][better]


def ranked(score: np.ndarray, top: int, excluded: np.ndarray | None = None) -> np.ndarray:
    """The indices of the ``top`` best scores, best first (the earlier file among equals).

    Args:
        score: ``[files]`` scores.
        top: How many to return (fewer when there are fewer files).
        excluded: bool ``[files]``: files never returned (the query itself).
    """
    order = np.argsort(-score, kind="stable")
    if excluded is not None:
        order = order[~excluded[order]]
    return order[: max(0, int(top))]
