"""Search benchmark: query time and peak memory of tfembed-search's exact diagonal search.

For each index size (default 10^4, 10^5 and 10^6 windows), a synthetic index is
written to a temporary folder as ``tfembed-search index`` writes its matrix:
random unit-length 128-d windows stored as float16, in files of 50 to 150
windows (about 100). A query of ``m`` windows (10: 30 s at a 3 s hop; 20: 30 s
at 1.5 s) is a slice of one file at a random offset with noise added, so each
run also checks that the search finds that file first at that offset.

The timed search is what ``tfembed-search query`` does after embedding the
query: open the matrix as a memory map, score every offset of every file
(:func:`tfembed.search.scoring.best_alignments`) and rank the files. It runs
with the default chunk (65,536 windows at a time) and, as the baseline, with the
whole index as one chunk (the whole matrix converted to float32 at once).
Times are the median of ``--rounds`` runs with the matrix in the page cache;
peak memory is the most the search allocated (tracemalloc, in a separate run:
NumPy reports its buffers to it), besides the memory map, whose pages are the
kernel's page cache and are shared and reclaimable.

Usage: python tools/benchmarks/bench_search.py [--sizes 10000 100000 1000000]
    [--query_windows 10 20] [--rounds 5] [--out bench_search.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from tfembed.results.summary import head_commit, provenance
from tfembed.search.index import MATRIX_DTYPE
from tfembed.search.scoring import DEFAULT_CHUNK_WINDOWS, best_alignments, ranked, unit_rows
from tfembed.utils.machine import describe_machine

EMBEDDING_SIZE = 128
_WRITE_ROWS = 65_536


def _write_index(path: Path, size: int, rng: np.random.Generator) -> np.ndarray:
    """Writes ``size`` random unit windows as a float16 ``.npy``; returns the file lengths."""
    lengths = rng.integers(50, 151, size=size // 50 + 1)
    lengths = lengths[: int(np.searchsorted(np.cumsum(lengths), size)) + 1]
    lengths[-1] -= lengths.sum() - size
    matrix = np.lib.format.open_memmap(
        path, mode="w+", dtype=MATRIX_DTYPE, shape=(size, EMBEDDING_SIZE)
    )
    for start in range(0, size, _WRITE_ROWS):
        rows = rng.standard_normal((min(_WRITE_ROWS, size - start), EMBEDDING_SIZE), np.float32)
        matrix[start : start + len(rows)] = unit_rows(rows)
    matrix.flush()
    del matrix
    return lengths[lengths > 0]


def _search(path: Path, lengths: np.ndarray, query: np.ndarray, chunk: int) -> tuple[int, int]:
    """What ``tfembed-search query`` does once the query is embedded; the best file and offset."""
    windows = np.load(path, mmap_mode="r")
    alignments = best_alignments(windows, lengths, query, chunk)
    best = int(ranked(alignments.score, 10)[0])
    return best, int(alignments.offset[best])


def _query(path: Path, lengths: np.ndarray, m: int, rng: np.random.Generator):
    """A slice of a random file at a random offset, with noise; the file and the offset."""
    long = np.flatnonzero(lengths >= m)
    file = int(rng.choice(long))
    offset = int(rng.integers(0, lengths[file] - m + 1))
    first = int(lengths[:file].sum()) + offset
    windows = np.load(path, mmap_mode="r")[first : first + m].astype(np.float32)
    noisy = windows + 0.05 * rng.standard_normal(windows.shape, np.float32)
    return unit_rows(noisy), file, offset


def _measure(path: Path, lengths, query, chunk: int, rounds: int, expected) -> dict:
    seconds = []
    for _ in range(rounds):
        started = time.perf_counter()
        found = _search(path, lengths, query, chunk)
        seconds.append(time.perf_counter() - started)
        assert found == expected, (found, expected)
    tracemalloc.start()
    _search(path, lengths, query, chunk)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"seconds": round(statistics.median(seconds), 4), "peak_mib": round(peak / 2**20, 1)}


def main() -> None:
    """Runs the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10**4, 10**5, 10**6])
    parser.add_argument("--query_windows", type=int, nargs="+", default=[10, 20])
    parser.add_argument("--rounds", type=int, default=5, help="timed runs (median kept)")
    parser.add_argument("--out", default="bench_search.json")
    args = parser.parse_args()

    command = shlex.join(["python", "tools/benchmarks/bench_search.py", *sys.argv[1:]])
    results = provenance(command, head_commit(Path(__file__).parent))
    results["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as temporary:
        for size in args.sizes:
            path = Path(temporary) / f"windows-{size}.npy"
            lengths = _write_index(path, size, rng)
            for m in args.query_windows:
                query, file, offset = _query(path, lengths, m, rng)
                chunked = _measure(
                    path, lengths, query, DEFAULT_CHUNK_WINDOWS, args.rounds, (file, offset)
                )
                whole = _measure(path, lengths, query, size, args.rounds, (file, offset))
                rows.append(
                    {
                        "windows": size,
                        "files": len(lengths),
                        "index_mib": round(path.stat().st_size / 2**20, 1),
                        "query_windows": m,
                        "seconds": chunked["seconds"],
                        "windows_per_second": round(size / chunked["seconds"]),
                        "peak_mib": chunked["peak_mib"],
                        "one_chunk_seconds": whole["seconds"],
                        "one_chunk_peak_mib": whole["peak_mib"],
                        "time_vs_one_chunk": round(chunked["seconds"] / whole["seconds"], 2),
                        "memory_vs_one_chunk": round(chunked["peak_mib"] / whole["peak_mib"], 3),
                    }
                )
                print(rows[-1], flush=True)
            path.unlink()
    results.update(chunk_windows=DEFAULT_CHUNK_WINDOWS, rounds=args.rounds, rows=rows)
    print(describe_machine(results["machine"]))
    columns = ("windows", "files", "query_windows", "seconds", "peak_mib")
    columns += ("one_chunk_seconds", "one_chunk_peak_mib", "time_vs_one_chunk")
    print(" ".join(f"{name:>18s}" for name in columns))
    for row in rows:
        print(" ".join(f"{row[name]:>18}" for name in columns))
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
