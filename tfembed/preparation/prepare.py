"""MIDI -> rendered audio (log-mel) + piano roll -> labelled clips in sharded TFRecords.

:func:`prepare` is the library function behind ``tfembed-prepare``. It lists the
pieces, prepares each one in a worker process (parse, clean, render once, log-mel,
piano roll, clips: :mod:`tfembed.preparation.job`) into
``OUT/pieces/<piece_id>.tfrecord`` plus a ``.json`` summary, both written
atomically, then merges the finished pieces into
``OUT/<split>-<i>-of-<n>.tfrecord`` shards and writes ``OUT/manifest.json``.

A run that is interrupted (Ctrl-C, SIGTERM, a crash) resumes with the same
command: finished pieces are skipped, and because each piece is rendered
deterministically and shards are built in a fixed order, the result is
byte-for-byte the same as an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import datetime
import errno
import json
import os
import shutil
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tfembed.dataset.manifest import ALL_SPLITS, DATASET_MANIFEST_NAME, SPLITS, read_manifest
from tfembed.dataset.vocabulary import KEY_NAMES, UNKNOWN
from tfembed.features.framegrid import DEFAULT_GRID, FrameGrid
from tfembed.preparation import DEFAULT_MAX_PIECE_SECONDS, PrepareError
from tfembed.preparation.instruments import PIANO
from tfembed.preparation.job import PieceJob, read_summary, summary_path
from tfembed.preparation.pool import run_jobs
from tfembed.preparation.render import check_fluidsynth, check_soundfont, find_soundfont
from tfembed.preparation.shards import write_shards
from tfembed.preparation.soundfonts import Soundfont, read_soundfonts
from tfembed.preparation.sources import MIDI_SUFFIXES, MUSIC21_ORIGIN, Piece, list_midi_dir
from tfembed.preparation.splits import assign_splits, works_per_split
from tfembed.preparation.tempo import CORPUS_TEMPO_POLICY, MIDI_DIR_TEMPO_POLICY, TEMPO_POLICIES
from tfembed.utils.atomic import remove_temporary_files, write_json_atomically
from tfembed.utils.locking import LOCK_NAME, hold_lock
from tfembed.utils.versions import tool_versions

PIECES_DIR = "pieces"
RUN_OPTIONS_NAME = "run_options.json"
FORMAT_VERSION = 1
_VERSIONED_PACKAGES = (
    "note-seq",
    "pyfluidsynth",
    "music21",
    "mido",
    "pretty_midi",
)


def _list_pieces(
    midi_dir, metadata, corpus, composers, pieces_per_composer, max_score_kb, pretrain_pieces
) -> tuple[list[Piece], list[dict[str, str]], dict[str, Any]]:
    if (midi_dir is None) == (corpus is None):
        raise PrepareError("give exactly one source: --midi_dir DIR or --corpus music21")
    if corpus is not None:
        if corpus != MUSIC21_ORIGIN:
            raise PrepareError(f"unknown corpus {corpus!r}; the embedded one is 'music21'")
        from tfembed.preparation.corpus import DEFAULT_COMPOSERS, list_corpus

        chosen = tuple(composers or DEFAULT_COMPOSERS)
        try:
            pieces = list_corpus(chosen, pieces_per_composer, max_score_kb, pretrain_pieces)
        except ValueError as error:
            raise PrepareError(str(error)) from error
        source = {
            "kind": "music21",
            "composers": list(chosen),
            "pieces_per_composer": pieces_per_composer,
            "max_score_kb": max_score_kb,
        }
        if pretrain_pieces:  # recorded only when used: earlier preparations resume
            source["pretrain_pieces_per_composer"] = pretrain_pieces
        return pieces, [], source
    from tfembed.preparation.sources import SourceError

    try:
        pieces, problems = list_midi_dir(midi_dir, metadata)
    except SourceError as error:
        raise PrepareError(str(error)) from error
    source = {
        "kind": "midi_dir",
        "midi_dir": str(Path(midi_dir).resolve()),
        "metadata": str(Path(metadata).resolve()) if metadata else None,
    }
    return pieces, problems, source


def _expected_cost(piece: Piece) -> int:
    """Bytes of the source file: a proxy for work, so long pieces start first."""
    if piece.origin == MUSIC21_ORIGIN:
        from tfembed.preparation.corpus import corpus_root

        path = corpus_root() / piece.path
    else:
        path = Path(piece.path)
    try:
        return path.stat().st_size
    except OSError:
        return 0


def prepare(
    out_dir: str | os.PathLike,
    *,
    midi_dir: str | os.PathLike | None = None,
    metadata: str | os.PathLike | None = None,
    corpus: str | None = None,
    composers: list[str] | None = None,
    pieces_per_composer: int | None = None,
    pretrain_pieces_per_composer: int = 0,
    max_score_kb: int | None = None,
    workers: int = 1,
    soundfont: str | os.PathLike | None = None,
    soundfonts: Sequence[str | os.PathLike] | None = None,
    max_piece_seconds: float = DEFAULT_MAX_PIECE_SECONDS,
    long_pieces: str = "cut",
    instruments: str | Sequence[str] = PIANO,
    grid: FrameGrid = DEFAULT_GRID,
    runner: str = "local",
    pipeline_options: str | None = None,
    tempo_policy: str | None = None,
) -> dict[str, Any]:
    """Prepares a dataset of labelled clips from MIDI files or the music21 corpus.

    Args:
        out_dir: Output folder (created; an existing unfinished run is resumed).
        midi_dir: A folder of MIDI files, searched recursively. Exclusive with ``corpus``.
        metadata: A MAESTRO-style CSV for ``midi_dir``.
        corpus: ``"music21"`` for the score corpus that ships with music21.
        composers: Corpus folders to use (default: ten composer classes).
        pieces_per_composer: Cap on corpus pieces per composer; ``None`` uses
            the corpus default, 0 takes every piece.
        pretrain_pieces_per_composer: Up to this many more corpus pieces per
            composer in the ``pretrain`` split, for self-supervised training only
            (see :func:`tfembed.preparation.corpus.list_corpus`); needs a cap.
        max_score_kb: Largest corpus score taken (uncompressed KB); ``None`` uses
            the corpus default.
        workers: Worker processes.
        soundfont: General MIDI soundfont; found automatically when ``None``.
        soundfonts: Several soundfonts instead: every piece is rendered with each,
            and every clip's record holds all its renderings, the first
            soundfont's (the reference) first. Exclusive with ``soundfont``.
        max_piece_seconds: Pieces longer than this are cut or skipped.
        long_pieces: ``"cut"`` or ``"skip"`` for pieces over ``max_piece_seconds``.
        instruments: Who plays: ``piano`` (every part, drums left out: the
            paper's), ``as_written`` (each part's General MIDI program, drums left
            out) or ``as_written_with_drums`` (see
            :mod:`tfembed.preparation.instruments`); one choice for every
            soundfont, or one per soundfont (a soundfont may then be listed twice,
            with two choices). The piano roll holds the pitched notes in every case.
        grid: The frame grid.
        runner: ``"local"`` (a process pool of ``workers``) or ``"beam"`` (an
            Apache Beam pipeline, see :mod:`tfembed.preparation.beam_pipeline`).
        pipeline_options: Beam pipeline options, as on a command line (``beam`` only).
        tempo_policy: ``draw`` renders a file that states no tempo at a tempo
            drawn for the piece; ``stated`` renders it at 120 and leaves its
            tempo unknown (see :mod:`tfembed.preparation.tempo`). ``None``:
            ``draw`` for the corpus, ``stated`` for a folder of MIDI files.

    Returns:
        The manifest (also written to ``out_dir/manifest.json``).

    Raises:
        PrepareError: Bad options, a different earlier run in ``out_dir``, no
            piece could be prepared, or the disk is full (finished pieces are kept).
        tfembed.utils.locking.LockError: Another process is preparing into ``out_dir``,
            or it is a file.
        tfembed.preparation.render.RenderSetupError: Fluidsynth or the soundfont
            is missing or cannot be loaded.
        tfembed.preparation.soundfonts.SoundfontError: A listed soundfont is
            missing, unreadable, not a soundfont, has no piano, or is listed twice.
    """
    started = time.perf_counter()
    _check_orchestration(workers, runner, long_pieces)
    tempo_policy = _tempo_policy(tempo_policy, corpus)
    pieces_per_composer, max_score_kb = _corpus_caps(
        corpus, pieces_per_composer, max_score_kb, pretrain_pieces_per_composer
    )
    check_fluidsynth()
    renderings = _renderings(soundfont, soundfonts, instruments)
    pieces, listing_problems, source = _list_pieces(
        midi_dir,
        metadata,
        corpus,
        composers,
        pieces_per_composer,
        max_score_kb,
        pretrain_pieces_per_composer,
    )
    for problem in listing_problems:
        print(f"skipped {problem['file']}: {problem['problem']}", file=sys.stderr)
    if not pieces:
        raise PrepareError(f"no MIDI files ({', '.join(MIDI_SUFFIXES)}) found in {midi_dir}")
    run_options = {
        "format_version": FORMAT_VERSION,
        "source": source,
        "soundfont": str(renderings[0].path),
        "renderings": [rendering.to_dict() for rendering in renderings],
        "max_piece_seconds": max_piece_seconds,
        "long_pieces": long_pieces,
        "frame_grid": grid.to_dict(),
        "tempo_policy": tempo_policy,
    }
    run = _Run(
        Path(out_dir),
        assign_splits(pieces),
        listing_problems,
        run_options,
        _Orchestration(runner, workers, pipeline_options),
        started,
    )
    with hold_lock(run.out, "preparation"):
        try:
            return _prepare_locked(run)
        except OSError as error:
            if error.errno != errno.ENOSPC:
                raise
            raise PrepareError(
                f"no space left on the device of {run.out}"
                f"{f' (writing {error.filename})' if error.filename else ''}; finished pieces "
                f"are kept in {run.pieces_dir}: free some space and run the same command "
                "again to resume"
            ) from error


def _renderings(
    soundfont: str | os.PathLike | None,
    soundfonts: Sequence[str | os.PathLike] | None,
    instruments: str | Sequence[str],
) -> tuple[Soundfont, ...]:
    """The checked soundfonts to render with, the reference first.

    Raises:
        PrepareError: Both ``soundfont`` and ``soundfonts`` given.
        tfembed.preparation.soundfonts.SoundfontError: A soundfont cannot be used.
        tfembed.preparation.render.RenderSetupError: Fluidsynth cannot load one.
    """
    if soundfont is not None and soundfonts is not None:
        raise PrepareError("give --soundfont or --soundfonts, not both")
    paths = soundfonts if soundfonts is not None else [find_soundfont(soundfont)]
    checked = read_soundfonts(paths, instruments)
    for rendering in checked:
        check_soundfont(rendering.path)
    return checked


def _check_orchestration(workers: int, runner: str, long_pieces: str) -> None:
    """Checks the options of how the pieces are run.

    Raises:
        PrepareError: An option has a value it cannot take.
    """
    if workers < 1:
        raise PrepareError(f"--workers must be at least 1, not {workers}")
    if long_pieces not in ("cut", "skip"):
        raise PrepareError(f"--long_pieces must be 'cut' or 'skip', not {long_pieces!r}")
    if runner not in ("local", "beam"):
        raise PrepareError(f"--runner must be 'local' or 'beam', not {runner!r}")


def _tempo_policy(tempo_policy: str | None, corpus: str | None) -> str:
    """The tempo policy asked for, or the source's default; checked.

    Raises:
        PrepareError: An unknown policy.
    """
    if tempo_policy is None:
        tempo_policy = CORPUS_TEMPO_POLICY if corpus is not None else MIDI_DIR_TEMPO_POLICY
    if tempo_policy not in TEMPO_POLICIES:
        raise PrepareError(f"--tempo_policy must be one of {TEMPO_POLICIES}, not {tempo_policy!r}")
    return tempo_policy


def _corpus_caps(
    corpus: str | None,
    pieces_per_composer: int | None,
    max_score_kb: int | None,
    pretrain_pieces_per_composer: int,
) -> tuple[int | None, int | None]:
    """The corpus caps ``(pieces_per_composer, max_score_kb)``, defaults filled in.

    ``pieces_per_composer`` 0 (no cap) comes back as ``None``.

    Raises:
        PrepareError: A pretrain split asked for where it cannot be drawn.
    """
    if corpus is not None:
        from tfembed.preparation.corpus import DEFAULT_MAX_SCORE_KB, DEFAULT_PIECES_PER_COMPOSER

        if max_score_kb is None:
            max_score_kb = DEFAULT_MAX_SCORE_KB
        if pieces_per_composer is None:
            pieces_per_composer = DEFAULT_PIECES_PER_COMPOSER
    pieces_per_composer = pieces_per_composer or None  # 0: no cap
    if pretrain_pieces_per_composer < 0:
        raise PrepareError(
            f"--pretrain_pieces_per_composer must be at least 0, not {pretrain_pieces_per_composer}"
        )
    if pretrain_pieces_per_composer and corpus is None:
        raise PrepareError(
            "--pretrain_pieces_per_composer needs --corpus; with --midi_dir, give pieces "
            "the split 'pretrain' in --metadata"
        )
    if pretrain_pieces_per_composer and pieces_per_composer is None:
        raise PrepareError(
            "--pretrain_pieces_per_composer needs a --pieces_per_composer cap: "
            "without one every piece is already labelled"
        )
    return pieces_per_composer, max_score_kb


@dataclasses.dataclass(frozen=True)
class _Orchestration:
    """How the pieces are run: a local process pool or an Apache Beam pipeline."""

    runner: str
    workers: int
    pipeline_options: str | None


@dataclasses.dataclass(frozen=True)
class _Run:
    """One preparation: where it writes, its pieces (with splits) and options."""

    out: Path
    pieces: list[Piece]
    listing_problems: list[dict[str, str]]
    options: dict[str, Any]
    orchestration: _Orchestration
    started: float

    @property
    def pieces_dir(self) -> Path:
        """Where the pieces' jobs write, until the merge."""
        return self.out / PIECES_DIR


def _prepare_locked(run: _Run) -> dict[str, Any]:
    """The part of :func:`prepare` that writes into ``run.out``, run under its lock."""
    out, pieces_dir = run.out, run.pieces_dir
    _claim_output(out, pieces_dir, run.options)
    remove_temporary_files(out)  # a shard whose merge was killed
    if (out / DATASET_MANIFEST_NAME).is_file() and not pieces_dir.exists():
        print(f"{out} is already prepared; nothing to do", file=sys.stderr)
        return read_manifest(out)
    pieces_dir.mkdir(parents=True, exist_ok=True)
    remove_temporary_files(pieces_dir)

    vocabulary = sorted({piece.composer_name for piece in run.pieces} - {""})
    pending = _pending(pieces_dir, run.pieces)
    if len(pending) < len(run.pieces):
        print(
            f"resuming: {len(run.pieces) - len(pending)} of {len(run.pieces)} pieces already done",
            file=sys.stderr,
        )
    _run_pending(run, _piece_jobs(run, pending, vocabulary))

    summaries = [read_summary(pieces_dir, piece.piece_id) for piece in run.pieces]
    manifest = _merge(out, pieces_dir, summaries, run.listing_problems, vocabulary, run.options)
    manifest["time"] = {
        "wall_seconds_last_run": round(time.perf_counter() - run.started, 1),
        "piece_processing_seconds": round(
            sum(summary["processing_seconds"] for summary in summaries), 1
        ),
    }
    write_json_atomically(out / DATASET_MANIFEST_NAME, manifest)
    shutil.rmtree(pieces_dir)
    _warn_of_empty_splits(out, manifest)
    return manifest


def _piece_jobs(run: _Run, pending: list[Piece], vocabulary: list[str]) -> list[PieceJob]:
    """The jobs of the pending pieces, the longest first."""
    composer_ids = {name: index for index, name in enumerate(vocabulary)}
    grid = FrameGrid.from_dict(run.options["frame_grid"])
    return [
        PieceJob(
            piece,
            composer_ids.get(piece.composer_name, UNKNOWN),
            str(run.pieces_dir),
            tuple(rendering["path"] for rendering in run.options["renderings"]),
            grid,
            run.options["max_piece_seconds"],
            run.options["long_pieces"],
            run.options["tempo_policy"],
            tuple(rendering["instruments"] for rendering in run.options["renderings"]),
        )
        for piece in sorted(pending, key=_expected_cost, reverse=True)
    ]


def _run_pending(run: _Run, jobs: list[PieceJob]) -> None:
    """Runs the jobs on the local pool or on Apache Beam."""
    workers = run.orchestration.workers
    if run.orchestration.runner == "beam":
        try:
            from tfembed.preparation.beam_pipeline import run_beam
        except ModuleNotFoundError as error:
            if error.name != "apache_beam":
                raise
            raise PrepareError(
                "--runner beam needs Apache Beam: pip install -c constraints.txt 'tfembed[beam]'"
            ) from error
        run_beam(jobs, run.orchestration.pipeline_options, workers)
    else:
        total = len(run.pieces)
        run_jobs(jobs, min(workers, max(1, len(jobs))), total - len(jobs), total)


def _warn_of_empty_splits(out: Path, manifest: dict[str, Any]) -> None:
    for split in SPLITS:
        if not manifest["counts"]["pieces"][split]:
            print(
                f"warning: the {split} split of {out} is empty (no piece was prepared for it); "
                "give more pieces per composer, or set splits in --metadata",
                file=sys.stderr,
            )


def _pending(pieces_dir: Path, pieces: list[Piece]) -> list[Piece]:
    """The pieces to prepare: not yet tried, or failed for a reason outside their file.

    A failure that lies in the file itself (corrupt, no notes, too short, silent) is
    final; any other (a crash, an unreadable file, a disk or soundfont problem) is
    retried, and the retried pieces are named.
    """
    pending, retried = [], []
    for piece in pieces:
        path = summary_path(pieces_dir, piece.piece_id)
        if not path.is_file():
            pending.append(piece)
            continue
        summary = json.loads(path.read_text())
        if summary["status"] == "failed" and summary.get("retry", True):
            path.unlink()
            pending.append(piece)
            retried.append(f"{piece.path} ({summary['problem']})")
    if retried:
        print(
            f"retrying {len(retried)} piece(s) that failed for a reason outside the file: "
            + "; ".join(retried),
            file=sys.stderr,
        )
    return pending


def _claim_output(out: Path, pieces_dir: Path, run_options: dict[str, Any]) -> None:
    """Records the run's options in ``out``; refuses a folder used with other options."""
    options_path = out / RUN_OPTIONS_NAME
    if options_path.is_file():
        earlier = json.loads(options_path.read_text())
        if earlier != run_options:
            changed = sorted(
                key
                for key in set(earlier) | set(run_options)
                if earlier.get(key) != run_options.get(key)
            )
            raise PrepareError(
                f"{out} holds a preparation with different options ({', '.join(changed)}); "
                "resume it with the same command, or choose another --out"
            )
    elif out.exists() and any(path.name != LOCK_NAME for path in out.iterdir()):
        raise PrepareError(f"{out} exists and is not a tfembed preparation; choose another --out")
    else:
        write_json_atomically(options_path, run_options)


def _merge(
    out: Path,
    pieces_dir: Path,
    summaries: list[dict[str, Any]],
    listing_problems: list[dict[str, str]],
    vocabulary: list[str],
    run_options: dict[str, Any],
) -> dict[str, Any]:
    done = [summary for summary in summaries if summary["status"] == "done"]
    failures = listing_problems + [
        {"file": summary["file"], "problem": summary["problem"]}
        for summary in summaries
        if summary["status"] == "failed"
    ]
    if not done:
        raise PrepareError(
            f"no piece could be prepared ({len(failures)} failed); see the messages above"
        )
    shards = {}
    for split in ALL_SPLITS:
        shards[split] = write_shards(
            out, pieces_dir, split, [summary for summary in done if summary["split"] == split]
        )
    written = {entry["file"] for entries in shards.values() for entry in entries}
    for stale in out.glob("*.tfrecord"):
        if stale.name not in written:
            stale.unlink()
    return {
        "format_version": FORMAT_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **{key: value for key, value in run_options.items() if key != "format_version"},
        "vocabularies": {"composer": vocabulary, "key_signature": list(KEY_NAMES)},
        "counts": _counts(done, failures),
        "works": works_per_split(
            (summary["split"], summary.get("work", summary["piece_id"])) for summary in done
        ),
        "shards": shards,
        "pieces": sorted(done, key=lambda summary: summary["piece_id"]),
        "failures": failures,
        "versions": tool_versions(*_VERSIONED_PACKAGES),
    }


def _counts(done: list[dict[str, Any]], failures: list[dict[str, str]]) -> dict[str, Any]:
    per_composer: dict[str, dict[str, Counter]] = defaultdict(
        lambda: {"pieces": Counter(), "clips": Counter()}
    )
    for summary in done:
        name = summary["composer"] or "(unknown)"
        per_composer[name]["pieces"][summary["split"]] += 1
        per_composer[name]["clips"][summary["split"]] += summary["clips"]

    def by_split(field: str | None) -> dict[str, float]:
        return {
            split: sum(
                (summary[field] if field else 1) for summary in done if summary["split"] == split
            )
            for split in ALL_SPLITS
        }

    return {
        "pieces": by_split(None),
        "clips": by_split("clips"),
        "seconds": by_split("seconds"),
        "per_composer": {
            name: {kind: dict(counter) for kind, counter in value.items()}
            for name, value in sorted(per_composer.items())
        },
        "failed_pieces": len(failures),
        "cut_pieces": sum(1 for summary in done if summary["cut_at_seconds"] is not None),
        "silent_clips_left_out": sum(summary["silent_clips"] for summary in done),
    }
