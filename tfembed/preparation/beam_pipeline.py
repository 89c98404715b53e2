"""Preparation as an Apache Beam pipeline: ``tfembed-prepare --runner beam``.

Only the orchestration differs from the local process pool. The driver lists the
pieces, assigns splits and builds the composer vocabulary exactly as
:func:`tfembed.preparation.prepare.prepare` does; the pipeline runs the same
per-piece job (:func:`tfembed.preparation.job.run_piece_job`: parse, clean, render,
log-mel, piano roll, labels) on every
pending piece, which writes ``OUT/pieces/<piece_id>.tfrecord`` and ``.json``;
then the driver merges the pieces into shards and writes the manifest with the
same code as a local run. So the records are byte-identical to a local run's
and the manifest is equivalent, and an interrupted pipeline resumes like a
local run (finished pieces are skipped).

The pipeline is ``Create(jobs) | Reshuffle | ParDo(PreparePieceFn)``. The DoFn
never raises on a bad file: the per-piece function records every failure in the
piece's summary, which goes to the ``failed`` side output (logged on the worker)
instead of the main output. Counters ``tfembed/prepared_pieces``,
``tfembed/failed_pieces`` and ``tfembed/cut_pieces`` count the outcomes.

The runner is chosen by pipeline options alone. Without ``--runner`` it is the
DirectRunner in multi-processing mode with ``--workers`` processes. Every worker
must see ``OUT`` at the same path (on one machine it does; on a cluster, a
shared file system such as NFS or Filestore mounted on every worker).
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

from tfembed.preparation import PrepareError
from tfembed.preparation.job import (
    PieceJob,
    limit_tensorflow_threads,
    outcome_messages,
    read_summary,
    run_piece_job,
)

FAILED_TAG = "failed"
"""Tag of the side output that carries the summaries of failed pieces."""

COUNTER_NAMESPACE = "tfembed"
COUNTERS = ("prepared_pieces", "failed_pieces", "cut_pieces")

_LOG = logging.getLogger(__name__)

_ONE_PIECE_AT_A_TIME = threading.Lock()
"""A Beam worker runs bundles in several threads; a process prepares one piece at a time.

Pieces rendered concurrently in one process do not come out byte-identical
(seen on DirectRunner), and one piece at a time bounds a worker's memory as in
the local pool; parallelism comes from worker processes.
"""


def pipeline_options(options: str | None, workers: int) -> PipelineOptions:
    """Parses Beam pipeline options given as one command-line string.

    Args:
        options: For example ``"--runner=DataflowRunner --project=p --region=r"``;
            ``None`` or empty for the default.
        workers: Worker processes of the local DirectRunner when ``options`` do
            not say (``--direct_num_workers``).

    Returns:
        The given options, with ``--runner=DirectRunner
        --direct_running_mode=multi_processing --direct_num_workers=WORKERS``
        where they do not choose otherwise.

    Raises:
        PrepareError: The string cannot be split into arguments.
    """
    try:
        flags = shlex.split(options or "")
    except ValueError as error:
        raise PrepareError(f"--pipeline_options {options!r}: {error}") from error
    parsed = PipelineOptions(flags)
    standard = parsed.view_as(StandardOptions)
    if standard.runner is None:
        standard.runner = "DirectRunner"
    if standard.runner in ("DirectRunner", "direct"):
        direct = parsed.view_as(DirectOptions)
        given = {flag.split("=")[0] for flag in flags}
        if "--direct_running_mode" not in given:
            direct.direct_running_mode = "multi_processing"
        if "--direct_num_workers" not in given:
            direct.direct_num_workers = workers
    return parsed


class PreparePieceFn(beam.DoFn):
    """Prepares one piece with the local pool's piece job.

    Successes go to the main output, failures to the ``failed`` side output;
    nothing is raised for a bad file, so one bad file never fails a bundle.
    """

    def __init__(self, threads: int):
        self._threads = threads
        self._counters = {name: Metrics.counter(COUNTER_NAMESPACE, name) for name in COUNTERS}

    def setup(self) -> None:
        """Keeps the worker's TensorFlow to its share of the cores."""
        limit_tensorflow_threads(self._threads)

    def process(self, job: PieceJob) -> Iterator[Any]:
        """Prepares ``job``'s piece; yields its summary on the main or the failed output."""
        with _ONE_PIECE_AT_A_TIME:
            summary = run_piece_job(job)
        if summary["status"] == "failed":
            self._counters["failed_pieces"].inc()
            yield beam.pvalue.TaggedOutput(FAILED_TAG, summary)
            return
        self._counters["prepared_pieces"].inc()
        if summary["cut_at_seconds"] is not None:
            self._counters["cut_pieces"].inc()
        yield summary


def _log_outcome(summary: dict[str, Any]) -> None:
    for message in outcome_messages(summary):
        _LOG.warning("%s", message)


def build_pipeline(
    pipeline: beam.Pipeline, jobs: list[PieceJob], threads: int
) -> dict[str, beam.PCollection]:
    """Adds the preparation's steps to ``pipeline``.

    Args:
        pipeline: The pipeline.
        jobs: The pieces to prepare.
        threads: TensorFlow threads per worker.

    Returns:
        The PCollections of piece summaries ``prepared`` and ``failed``.
    """
    outcomes = (
        pipeline
        | "Pieces" >> beam.Create(jobs, reshuffle=False)
        | "Spread" >> beam.Reshuffle()
        | "Prepare" >> beam.ParDo(PreparePieceFn(threads)).with_outputs(FAILED_TAG, main="prepared")
    )
    _ = outcomes.prepared | "ReportCut" >> beam.Map(_log_outcome)
    _ = outcomes[FAILED_TAG] | "ReportFailed" >> beam.Map(_log_outcome)
    return {"prepared": outcomes.prepared, "failed": outcomes[FAILED_TAG]}


def counter_values(result: beam.runners.runner.PipelineResult) -> dict[str, int]:
    """Reads the preparation's counters from a finished pipeline's result."""
    values = dict.fromkeys(COUNTERS, 0)
    query = result.metrics().query(MetricsFilter().with_namespace(COUNTER_NAMESPACE))
    for counter in query["counters"]:
        values[counter.key.metric.name] += counter.committed or counter.attempted or 0
    return values


def run_beam(jobs: list[PieceJob], options: str | None, workers: int) -> dict[str, int]:
    """Prepares ``jobs`` on Apache Beam and waits for the pipeline to finish.

    Messages for failed and cut pieces are printed on stderr as in a local run,
    then the counters.

    Args:
        jobs: The pending pieces (from :func:`tfembed.preparation.prepare.prepare`).
        options: Pipeline options as one command-line string (see
            :func:`pipeline_options`).
        workers: Local worker processes when the options do not say.

    Returns:
        The counters ``prepared_pieces``, ``failed_pieces`` and ``cut_pieces``.

    Raises:
        PrepareError: The options are unusable or the pipeline failed.
    """
    if not jobs:
        return dict.fromkeys(COUNTERS, 0)
    parsed = pipeline_options(options, workers)
    threads = max(1, (os.cpu_count() or 1) // max(1, workers))
    try:
        pipeline = beam.Pipeline(options=parsed)
        build_pipeline(pipeline, jobs, threads)
        result = pipeline.run()
        result.wait_until_finish()
    except KeyboardInterrupt:
        raise
    except Exception as error:  # the runner's own errors: bad options, lost workers
        raise PrepareError(
            f"the Beam pipeline failed ({type(error).__name__}: {error}); "
            "finished pieces are kept, rerun to resume"
        ) from error
    pieces_dir = Path(jobs[0].pieces_dir)
    for job in jobs:
        for message in outcome_messages(read_summary(pieces_dir, job.piece.piece_id)):
            print(message, file=sys.stderr)
    counters = counter_values(result)
    print(
        "beam counters: "
        + ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in counters.items()),
        file=sys.stderr,
    )
    return counters
