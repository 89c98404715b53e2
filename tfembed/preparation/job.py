"""One piece's job: prepare it into ``pieces/<piece_id>.tfrecord`` and record the outcome.

The local process pool (:mod:`tfembed.preparation.pool`) and the Apache Beam
pipeline (:mod:`tfembed.preparation.beam_pipeline`) run the same
:func:`run_piece_job`; :func:`tfembed.preparation.prepare.prepare` reads the
summaries back with :func:`read_summary` to merge the pieces into shards.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import time
from pathlib import Path
from typing import Any

from tfembed.features.framegrid import FrameGrid
from tfembed.preparation.instruments import PIANO
from tfembed.preparation.sources import MUSIC21_ORIGIN, Piece
from tfembed.preparation.splits import work_of
from tfembed.preparation.tempo import MIDI_DIR_TEMPO_POLICY
from tfembed.utils.atomic import atomic_destination, write_json_atomically
from tfembed.utils.memory import peak_rss_mb


@dataclasses.dataclass(frozen=True)
class PieceJob:
    """Everything a worker needs to prepare one piece."""

    piece: Piece
    composer: int
    pieces_dir: str
    soundfonts: tuple[str, ...]
    grid: FrameGrid
    max_piece_seconds: float
    long_pieces: str
    tempo_policy: str = MIDI_DIR_TEMPO_POLICY
    instruments: tuple[str, ...] = ()

    def rendering_instruments(self) -> tuple[str, ...]:
        """Who plays in each rendering, in the order of ``soundfonts`` (all piano if unset)."""
        return self.instruments or (PIANO,) * len(self.soundfonts)


def summary_path(pieces_dir: str | Path, piece_id: str) -> Path:
    """Where the summary of a piece's job is written: ``pieces_dir/<piece_id>.json``."""
    return Path(pieces_dir) / f"{piece_id}.json"


def read_summary(pieces_dir: str | Path, piece_id: str) -> dict[str, Any]:
    """The summary :func:`run_piece_job` wrote for a piece."""
    return json.loads(summary_path(pieces_dir, piece_id).read_text())


def run_piece_job(job: PieceJob) -> dict[str, Any]:
    """Prepares one piece and records the outcome; runs in a worker process.

    Writes the piece's records (on success) and its summary, both atomically.

    Returns:
        The summary: ``status`` ``done`` (with the clip counts and what was
        changed) or ``failed`` (with the ``problem`` and whether a rerun retries it).

    Raises:
        tfembed.preparation.render.RenderSetupError: Nothing can be rendered (the
            piece is not recorded).
        OSError: The disk is full.
    """
    from tfembed.errors import PieceError
    from tfembed.preparation.midi import UnreadableFileError
    from tfembed.preparation.render import RenderSetupError

    piece = job.piece
    started = time.perf_counter()
    summary: dict[str, Any] = {
        "piece_id": piece.piece_id,
        "file": piece.path,
        "composer": piece.composer_name,
        "split": piece.split,
        "work": work_of(piece),
    }
    try:
        records, done = _prepare(job)
    except (RenderSetupError, KeyboardInterrupt):
        raise  # nothing can be rendered: the run stops, and this piece is not recorded
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise
        # Outside the file itself (a music21 cache, a temporary file): retried on rerun.
        summary.update(status="failed", problem=f"{error}", retry=True)
    except UnreadableFileError as error:
        summary.update(status="failed", problem=str(error), retry=True)
    except PieceError as error:  # the file itself: corrupt, no notes, too short, silent
        summary.update(status="failed", problem=str(error), retry=False)
    except Exception as error:  # an unforeseen defect in one file must not stop the run
        summary.update(
            status="failed", problem=f"unexpected {type(error).__name__}: {error}", retry=True
        )
    else:
        _write_records(Path(job.pieces_dir) / f"{piece.piece_id}.tfrecord", records)
        summary.update(status="done", **done)
    summary["processing_seconds"] = round(time.perf_counter() - started, 3)
    summary["worker_peak_rss_mb"] = round(peak_rss_mb(), 1)
    write_json_atomically(summary_path(job.pieces_dir, piece.piece_id), summary)
    return summary


def _prepare(job: PieceJob) -> tuple[list[bytes], dict[str, Any]]:
    """Parses, cleans and renders the piece: its clips' records and what was done."""
    from tfembed.preparation.corpus import corpus_midi
    from tfembed.preparation.midi import clean_sequence, parse_midi
    from tfembed.preparation.piece import PieceInfo, prepare_piece
    from tfembed.preparation.tempo import apply_tempo_policy

    piece = job.piece
    path = corpus_midi(piece.path) if piece.origin == MUSIC21_ORIGIN else piece.path
    parsed = parse_midi(path)
    sequence, tempo_source = apply_tempo_policy(
        parsed.sequence, parsed.tempo_explicit, piece.piece_id, job.tempo_policy
    )
    choices = job.rendering_instruments()
    cleanings = {
        choice: clean_sequence(sequence, job.max_piece_seconds, job.long_pieces, choice)
        for choice in dict.fromkeys(choices)
    }
    cleaned = cleanings[choices[0]]
    info = PieceInfo(
        piece.piece_id,
        job.composer,
        piece.composer_name,
        piece.split,
        parsed.tempo_explicit,
        tempo_source,
    )
    performances = [
        (soundfont, cleanings[choice].performance())
        for soundfont, choice in zip(job.soundfonts, choices, strict=True)
    ]
    prepared = prepare_piece(cleaned, info, job.grid, performances)
    return prepared.records, {
        "clips": len(prepared.records),
        "seconds": prepared.seconds,
        "silent_clips": prepared.silent_clips,
        "tempo_explicit": parsed.tempo_explicit,
        "tempo_source": tempo_source,
        "rendered_qpm": round(sequence.tempos[0].qpm, 1) if sequence.tempos else 120.0,
        "dropped_drum_notes": cleaned.dropped_drum_notes,
        "played_drum_notes": max(len(cleaning.drum_notes) for cleaning in cleanings.values()),
        "cut_at_seconds": cleaned.cut_at_seconds,
        "title": piece.title,
        "repairs": parsed.repairs,
        "out_of_range_notes": prepared.out_of_range_notes,
        "synth_warnings": prepared.synth_warnings,
    }


def _write_records(path: Path, records: list[bytes]) -> None:
    """Writes a piece's records to ``path`` atomically."""
    import tensorflow as tf

    with atomic_destination(path) as temporary, tf.io.TFRecordWriter(str(temporary)) as writer:
        for record in records:
            writer.write(record)


def outcome_messages(summary: dict[str, Any]) -> list[str]:
    """The lines printed for a piece: why it failed, or what was changed or left out.

    One line each, naming the file; none for a plain success.
    """
    if summary["status"] == "failed":
        return [f"skipped {summary['file']}: {summary['problem']}"]
    notes = []
    if summary.get("cut_at_seconds") is not None:
        notes.append(
            f"cut {summary['file']} at {summary['cut_at_seconds']:.0f} s "
            "(longer than --max_piece_seconds)"
        )
    notes += [f"{summary['file']}: {repair}" for repair in summary.get("repairs", ())]
    if summary.get("out_of_range_notes"):
        notes.append(
            f"{summary['file']}: {summary['out_of_range_notes']} note(s) out of range "
            "(outside the piano roll's pitches; rendered, not in the roll)"
        )
    warnings = summary.get("synth_warnings")
    if warnings:
        notes.append(
            f"{summary['file']}: fluidsynth printed {warnings['count']} warning(s); "
            f"the first: {warnings['first']}"
        )
    return notes


def limit_tensorflow_threads(threads: int) -> None:
    """Keeps this process's TensorFlow to ``threads`` threads (if not yet started)."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already ran in this process: keep its threads
        pass
