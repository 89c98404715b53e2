"""The local runner of ``tfembed-prepare``: piece jobs in a pool of worker processes."""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from tfembed.preparation import PrepareError
from tfembed.preparation.job import (
    PieceJob,
    limit_tensorflow_threads,
    outcome_messages,
    run_piece_job,
)


def run_jobs(jobs: list[PieceJob], workers: int, already_done: int, total: int) -> None:
    """Prepares the pieces of ``jobs`` with a progress bar, in ``workers`` processes.

    Args:
        jobs: The pending pieces.
        workers: Worker processes (1: in this process).
        already_done: Pieces finished by an earlier run, where the bar starts.
        total: All pieces of the run.

    Raises:
        PrepareError: A worker process died.
    """
    from tqdm import tqdm

    bar = tqdm(
        total=total,
        initial=already_done,
        unit="piece",
        desc="prepare",
        dynamic_ncols=True,
        disable=None,
    )
    music_seconds = 0.0

    def record(summary: dict[str, Any]) -> None:
        nonlocal music_seconds
        for message in outcome_messages(summary):
            bar.write(message, file=sys.stderr)
        music_seconds += summary.get("seconds", 0.0)
        bar.set_postfix(music=f"{music_seconds / 60:.1f} min")
        bar.update()

    try:
        if workers == 1:
            for job in jobs:
                record(run_piece_job(job))
        else:
            _run_in_processes(jobs, workers, record)
    finally:
        bar.close()


def _init_worker(threads: int) -> None:
    """Lets the parent handle Ctrl-C and keeps each worker's TensorFlow to its share.

    On Linux, a worker also asks the kernel to stop it when its parent dies, so a
    preparation killed with SIGKILL leaves no orphaned workers behind. Of note-seq
    a worker loads only the MIDI reader.
    """
    import ctypes
    import signal

    from tfembed.preparation.note_seq_modules import load_only_used_note_seq_modules

    load_only_used_note_seq_modules()

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        set_parent_death_signal = 1  # PR_SET_PDEATHSIG
        ctypes.CDLL(None, use_errno=True).prctl(set_parent_death_signal, signal.SIGKILL)
    limit_tensorflow_threads(threads)


def _run_in_processes(jobs: list[PieceJob], workers: int, record) -> None:
    """Runs ``jobs`` in spawned processes; a worker that dies stops the run with a reason."""
    context = multiprocessing.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // workers)
    executor = ProcessPoolExecutor(workers, context, _init_worker, (threads,))
    try:
        futures = [executor.submit(run_piece_job, job) for job in jobs]
        for future in as_completed(futures):
            record(future.result())
    except BrokenProcessPool as error:
        raise PrepareError(
            "a worker process died (killed, or out of memory on a very long piece: lower "
            "--max_piece_seconds or --workers); finished pieces are kept, rerun to resume"
        ) from error
    except BaseException:
        executor.shutdown(wait=False, cancel_futures=True)
        for child in multiprocessing.active_children():
            child.terminate()
        raise
    executor.shutdown()
