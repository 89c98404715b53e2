"""Embedding many MIDI and audio files into one output folder (the library of ``tfembed-embed``).

For every input, ``OUT/<input name>.npz`` (inputs inside a folder keep their path
below ``OUT/<folder name>/``) holds ``embedding`` ``[clips, 128]``, ``timestamps``
``[clips]``, ``padded`` ``[clips]`` and ``piece_embedding`` ``[128]``.
``OUT/embeddings.npy`` stacks the piece embeddings of every embedded input, one
row per line of ``OUT/files.txt``; ``OUT/index.json`` maps every input to its
output (and the ``domain`` of the tower that embedded it: a joint export embeds
MIDI as ``roll`` and audio as ``mel``) or to the reason it failed.

Inputs are read (MIDI parsed and rendered or rolled, audio decoded and
resampled) in ``workers`` processes, which never import TensorFlow, while this
process, which alone holds the model, computes the log-mel of MIDI renderings
and embeds them in input order: the outputs are the same for any number of
workers. Inputs already embedded into ``OUT`` with the same model and settings,
and unchanged since, are not read again (:mod:`tfembed.inference.resume`); the
SavedModel is not even loaded when nothing is left to do.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import itertools
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tfembed.errors import TfembedError
from tfembed.inference.embedder import Embedder, Embeddings
from tfembed.inference.inputs import DEFAULT_INSTRUMENTS, AudioInput, InputReader, is_audio

if TYPE_CHECKING:
    from tfembed.preparation.midi_piece import MidiPiece

INDEX_NAME = "index.json"
MATRIX_NAME = "embeddings.npy"
"""The piece embeddings of every embedded input, ``[inputs, embedding_size]``."""
FILES_NAME = "files.txt"
"""The inputs of the rows of :data:`MATRIX_NAME`, one path a line."""


@dataclasses.dataclass(frozen=True)
class Listed:
    """An input of a run.

    Attributes:
        path: The input file (or the given path, when it has a problem).
        output: Its ``.npz`` relative to the output folder (``None`` with a problem).
        problem: Why it cannot be embedded (``None`` when it can be tried).
    """

    path: Path
    output: Path | None
    problem: str | None = None


def list_inputs(paths: list[str | os.PathLike]) -> list[Listed]:
    """Lists the inputs of the given files and folders, with their outputs.

    Folders are walked for MIDI and audio files (links to folders followed); a
    given file of another type, a missing path, a folder that cannot be read or
    one with nothing to embed is listed with its problem. No TensorFlow here.
    """
    from tfembed.inference.audio import AUDIO_SUFFIXES
    from tfembed.preparation.sources import MIDI_SUFFIXES
    from tfembed.utils.files import find_files

    suffixes = MIDI_SUFFIXES + AUDIO_SUFFIXES
    listed: list[Listed] = []
    used: set[Path] = set()

    def add(path: Path, relative: Path) -> None:
        output = relative.with_name(relative.name + ".npz")
        count = 1
        while output in used:
            count += 1
            output = relative.with_name(f"{relative.name}-{count}.npz")
        used.add(output)
        listed.append(Listed(path, output))

    for given in map(Path, paths):
        if given.is_dir():
            found, unreadable = find_files(given, suffixes)
            listed += [Listed(Path(item["file"]), None, item["problem"]) for item in unreadable]
            if not found and not unreadable:
                problem = f"no MIDI or audio files ({', '.join(suffixes)})"
                listed.append(Listed(given, None, problem))
            name = given.resolve().name or "root"
            for path in found:
                add(path, Path(name) / path.relative_to(given))
        elif not given.exists():
            listed.append(Listed(given, None, "no such file or folder"))
        elif given.suffix.lower() not in suffixes:
            problem = (
                f"unsupported file type {given.suffix or '(no suffix)'!r}; "
                f"expected MIDI or audio ({', '.join(suffixes)})"
            )
            listed.append(Listed(given, None, problem))
        else:
            add(given, Path(given.name))
    return listed


def run_settings(embedder: Embedder, hop_seconds: float | None) -> dict[str, Any]:
    """What the outputs depend on besides the inputs (no TensorFlow).

    ``instruments`` is there only when MIDI is rendered by other instruments than
    the piano, so the settings of a piano rendering (and a run resumed on them) are
    those of the versions before the option.
    """
    from tfembed.inference.resume import model_identity

    settings = {
        "saved_model": str(embedder.path.resolve()),
        "model_identity": model_identity(embedder.path),
        "hop_seconds": hop_seconds if hop_seconds is not None else embedder.grid.clip_seconds,
        "max_piece_seconds": embedder.max_midi_seconds,
        "soundfont": embedder.soundfont_name(),
    }
    if embedder.instruments_played() not in (None, DEFAULT_INSTRUMENTS):
        settings["instruments"] = embedder.instruments_played()
    return settings


def read_input(reader: InputReader, path: Path) -> MidiPiece | AudioInput | str:
    """Reads one input for the model; returns what is embedded, or why it cannot be.

    Runs in worker processes: any error becomes the message, so one bad file
    does not stop the others.
    """
    try:
        return reader.read(path)
    except TfembedError as error:
        return str(error)
    except OSError as error:
        return f"cannot read the file: {error.strerror or error}"
    except Exception as error:  # one bad file must not stop the others
        return f"unexpected {type(error).__name__}: {error}"


def _warm_up() -> None:
    """Imports what reading inputs needs, as a worker starts (while the parent loads the model).

    Workers never import TensorFlow: they render MIDI, roll it, or decode audio;
    the parent computes log-mels and embeds. Of note-seq they load only the MIDI reader.
    """
    from tfembed.preparation.note_seq_modules import load_only_used_note_seq_modules

    load_only_used_note_seq_modules()
    import tfembed.preparation.midi_piece  # noqa: F401  (note-seq, pretty_midi)


def _started() -> None:
    """A task that returns at once: submitting one per worker starts them all."""


@contextlib.contextmanager
def _reader_pool(workers: int, count: int) -> Iterator[Any]:
    """A pool of ``workers`` processes (all started now) to read ``count`` inputs, or ``None``."""
    if workers <= 1 or count <= 1:
        yield None
        return
    import concurrent.futures
    import multiprocessing

    # spawn: a forked child of a process running TensorFlow's threads can hang.
    context = multiprocessing.get_context("spawn")
    size = min(workers, count)
    with concurrent.futures.ProcessPoolExecutor(
        size, mp_context=context, initializer=_warm_up
    ) as pool:
        for _ in range(size):
            pool.submit(_started)
        try:
            yield pool
        except BaseException:
            pool.shutdown(cancel_futures=True)  # reads not started are dropped
            raise


def _reads(
    reader: InputReader, paths: list[Path], pool: Any, ahead: int
) -> Iterator[MidiPiece | AudioInput | str]:
    """What :func:`read_input` gives for each path, in order.

    A pool is given the first ``ahead`` paths at once, before the first read is
    asked for (the workers read while this process loads the model), and one
    more path for each read taken.
    """
    if pool is None:
        return (read_input(reader, path) for path in paths)
    queued = iter(paths)
    pending = collections.deque(
        pool.submit(read_input, reader, path) for path in itertools.islice(queued, ahead)
    )

    def taken() -> Iterator[MidiPiece | AudioInput | str]:
        while pending:
            read = pending.popleft().result()
            next_path = next(queued, None)
            if next_path is not None:
                pending.append(pool.submit(read_input, reader, next_path))
            yield read

    return taken()


def embed_files(
    embedder: Embedder,
    inputs: list[str | os.PathLike],
    out: str | os.PathLike,
    hop_seconds: float | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """Embeds files and folders into ``out``; returns the index (also written there).

    An input already embedded into ``out`` by an earlier run with the same model
    and settings, unchanged since and whose output is still there, is not
    embedded again: rerunning an interrupted command resumes it. One run at a
    time may write into ``out``.

    Args:
        embedder: The model (loaded here only if anything is left to embed).
        inputs: MIDI files, audio files and folders of them.
        out: Output folder.
        hop_seconds: Seconds between window starts (default: one clip).
        workers: Processes reading inputs (rendering MIDI, decoding audio)
            while this one embeds; the outputs do not depend on it.

    Raises:
        LockError: Another run is writing into ``out``.
        ExportError: The SavedModel cannot be loaded.
    """
    from tfembed.utils.locking import hold_lock

    with hold_lock(out, "embedding run"):
        return embed_listed(embedder, list_inputs(inputs), out, hop_seconds, workers)


def embed_listed(
    embedder: Embedder,
    listed: list[Listed],
    out: str | os.PathLike,
    hop_seconds: float | None = None,
    workers: int = 1,
    program: str = "tfembed-embed",
) -> dict[str, Any]:
    """:func:`embed_files` of inputs already listed, for a caller that holds ``out``'s lock.

    Args:
        embedder: The model (loaded here only if anything is left to embed).
        listed: What :func:`list_inputs` gave (a caller may drop some first).
        out: Output folder, locked by the caller (:func:`tfembed.utils.locking.hold_lock`).
        hop_seconds: Seconds between window starts (default: one clip).
        workers: Processes reading inputs.
        program: The command named in front of the lines printed about inputs.
    """
    return _Run(embedder, Path(out), hop_seconds, program).embed(listed, workers)


class _Run:
    """One run into an output folder: its journal, entries and progress bar."""

    def __init__(
        self, embedder: Embedder, out: Path, hop_seconds: float | None, program: str
    ) -> None:
        self.embedder, self.out, self.program = embedder, out, program
        self.hop_frames = embedder.hop_frames(hop_seconds)
        self.settings = run_settings(embedder, hop_seconds)
        self.entries: list[dict[str, Any]] = []
        self.clips = 0

    def embed(self, listed: list[Listed], workers: int) -> dict[str, Any]:
        from tqdm import tqdm

        from tfembed.inference.resume import Journal

        started = time.perf_counter()
        journal = Journal(self.out, self.settings)
        bar = tqdm(total=len(listed), unit="file", desc="embed", dynamic_ncols=True, disable=None)
        todo, resumed = [], 0
        try:
            for item in listed:
                earlier = journal.reusable(item.path, item.output) if item.problem is None else None
                if earlier is not None:
                    self.entries.append(earlier)
                    resumed += 1
                elif item.problem is not None:
                    self._fail(bar, item.path, item.problem)
                elif is_audio(item.path) and not self.embedder.reader.reads_audio:
                    self._fail(bar, item.path, _domain_problem(self.embedder))
                else:
                    todo.append(item)
                    continue
                bar.update()
            with _reader_pool(workers, len(todo)) as pool:
                paths = [item.path for item in todo]
                reads = _reads(self.embedder.reader, paths, pool, 2 * workers)
                if todo:  # while the workers start and read
                    self.embedder.load_model()
                embedding_started = time.perf_counter()
                for item, read in zip(todo, reads, strict=True):
                    if isinstance(read, str):
                        self._fail(bar, item.path, read)
                    else:
                        self._embed_one(bar, journal, item, read)
                    bar.update()
        finally:
            bar.close()
            journal.close(finished=len(self.entries) == len(listed))
        now = time.perf_counter()
        return self._finish(listed, resumed, now - started, now - embedding_started)

    def _fail(self, bar, path: Path, problem: str) -> None:
        bar.write(f"{self.program}: failed {path}: {problem}", file=sys.stderr)
        self.entries.append({"input": str(path), "status": "failed", "error": problem})

    def _embed_one(self, bar, journal, item: Listed, read: MidiPiece | AudioInput) -> None:
        from tfembed.inference.resume import input_stamp
        from tfembed.utils.atomic import write_npz_atomically

        domain = "mel" if isinstance(read, AudioInput) else self.embedder.reader.midi_domain
        entry: dict[str, Any] = {"input": str(item.path), "domain": domain}
        try:
            entry.update(input_stamp(item.path))
            with _file_bar(bar, item.path, read) as progress:
                result = self.embedder.embed_read(read, self.hop_frames, progress)
        except TfembedError as error:
            self._fail(bar, item.path, str(error))
            return
        except OSError as error:
            self._fail(bar, item.path, f"cannot read the file: {error.strerror or error}")
            return
        write_npz_atomically(self.out / item.output, result.arrays())
        _add_notes(bar, self.program, self.embedder, item.path, result, entry)
        entry.update(
            status="done",
            output=item.output.as_posix(),
            clips=len(result.timestamps),
            padded_clips=int(result.padded.sum()),
            seconds=round(_seconds(read, self.embedder.grid.frames_per_second), 3),
        )
        journal.record(entry)
        self.entries.append(entry)
        self.clips += entry["clips"]

    def _finish(
        self, listed: list[Listed], resumed: int, seconds: float, embedding_seconds: float
    ) -> dict[str, Any]:
        from tfembed.utils.atomic import write_json_atomically

        if resumed:
            print(
                f"{self.program}: resumed: {resumed} of {len(listed)} inputs were already "
                f"embedded in {self.out} with the same model and settings, and unchanged",
                file=sys.stderr,
            )
        done = [entry for entry in self.entries if entry["status"] == "done"]
        order = {str(item.path): position for position, item in enumerate(listed)}
        done.sort(key=lambda entry: order.get(entry["input"], len(order)))
        self._write_matrix(done)
        index = {
            "saved_model": self.settings["saved_model"],
            "hop_seconds": self.settings["hop_seconds"],
            "domain": self.embedder.domain,
            "domains": list(self.embedder.domains),
            "clip_seconds": self.embedder.grid.clip_seconds,
            "embedding_size": self.embedder.embedding_size,
            "settings": self.settings,
            "files": self.entries,
            "done": len(done),
            "failed": sum(entry["status"] == "failed" for entry in self.entries),
            "resumed": resumed,
            "clips": sum(entry["clips"] for entry in done),
            "embedded_clips": self.clips,
            "matrix": {"embeddings": MATRIX_NAME, "files": FILES_NAME},
            "wall_seconds": round(seconds, 3),
            "embedding_seconds": round(embedding_seconds, 3),
        }
        write_json_atomically(self.out / INDEX_NAME, index)
        return index

    def _write_matrix(self, done: list[dict[str, Any]]) -> None:
        """Writes the piece embeddings of ``done`` as one matrix, and their inputs."""
        from tfembed.utils.atomic import atomic_destination, write_bytes_atomically

        size = self.embedder.embedding_size
        rows = [np.load(self.out / entry["output"])["piece_embedding"] for entry in done]
        matrix = np.stack(rows).astype(np.float32) if rows else np.zeros((0, size), np.float32)
        with atomic_destination(self.out / MATRIX_NAME) as temporary, open(temporary, "wb") as f:
            np.save(f, matrix)
        names = "".join(f"{entry['input']}\n" for entry in done)
        write_bytes_atomically(self.out / FILES_NAME, [names.encode()])


def _domain_problem(embedder: Embedder) -> str:
    return (
        f"{embedder.path.name} reads piano rolls (domain {embedder.domain!r}); audio needs a "
        "mel model such as mel_mel (--saved_model mel_mel)"
    )


def _file_bar(bar, path: Path, read: MidiPiece | AudioInput) -> contextlib.AbstractContextManager:
    """A progress bar within one long audio file (embedded a chunk at a time), else nothing."""
    if not isinstance(read, AudioInput) or read.samples is not None or bar.disable:
        return contextlib.nullcontext()
    return _seconds_bar(path.name, read.seconds)


@contextlib.contextmanager
def _seconds_bar(name: str, seconds: float) -> Iterator[Callable[[float], None]]:
    """A progress bar in seconds of audio; yields the callback of the share embedded."""
    from tqdm import tqdm

    inner = tqdm(total=round(seconds), unit="s", desc=name, leave=False, dynamic_ncols=True)
    try:
        yield lambda share: inner.update(round(share * seconds) - inner.n)
    finally:
        inner.close()


def _seconds(read: MidiPiece | AudioInput, frames_per_second: int) -> float:
    """The length of an input as read (a MIDI file cut at the length cap counts as cut)."""
    return read.seconds if isinstance(read, AudioInput) else read.num_frames / frames_per_second


def _add_notes(
    bar, program: str, embedder: Embedder, path: Path, result: Embeddings, entry: dict
) -> None:
    """Prints what a user should know about an embedded input and records it in its entry."""
    for repair in result.repairs:
        bar.write(f"{program}: note: {path}: {repair}", file=sys.stderr)
    if result.repairs:
        entry["repairs"] = list(result.repairs)
    if result.padded.all():
        bar.write(
            f"{program}: note: {path} is shorter than one clip "
            f"({embedder.grid.clip_seconds:g} s): padded with silence and flagged",
            file=sys.stderr,
        )
    if result.cut_at_seconds is not None:
        bar.write(
            f"{program}: note: {path} is longer than --max_piece_seconds: "
            f"cut at {result.cut_at_seconds:.0f} s",
            file=sys.stderr,
        )
        entry["cut_at_seconds"] = result.cut_at_seconds
