"""Embedding files into an index folder and updating its search matrix (``tfembed-search index``).

The index folder is a ``tfembed-embed`` output folder
(:mod:`tfembed.inference.batch_embed`): the same listing of inputs, reading
workers, journal, resumption and per-file errors. The index remembers the files
and folders it was given (``sources``); every run lists them again with the ones
given now, so new files in a folder are added, changed files embedded again,
deleted files dropped, and files already embedded and unchanged are not read.
Then the search matrix is rewritten from the ``.npz`` files (only when the files
table changed). The model, hop, soundfont and length cap are fixed when the
index is created: a later run that asks for others is refused.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfembed.features.framegrid import EMBED_BATCH_SIZE
from tfembed.search.index import (
    DERIVED,
    FORMAT,
    SearchIndexError,
    files_table,
    read_record,
    write_index,
)

if TYPE_CHECKING:
    from tfembed.inference.batch_embed import Listed
    from tfembed.inference.embedder import Embedder

PROGRAM = "tfembed-search"


def index_files(
    inputs: list[str | os.PathLike],
    out: str | os.PathLike,
    model: str | os.PathLike | None = None,
    hop_seconds: float | None = None,
    workers: int = 1,
    soundfont: str | os.PathLike | None = None,
    max_piece_seconds: float | None = None,
    batch_size: int = EMBED_BATCH_SIZE,
    instruments: str | None = None,
) -> dict[str, Any]:
    """Embeds files and folders into an index and updates its search matrix.

    Args:
        inputs: MIDI files, audio files and folders of them, added to the index's
            sources (none: the sources are listed again).
        out: The index folder (created if missing; one run at a time).
        model: A SavedModel folder or shipped name; required for a new index,
            else the index's (another is refused).
        hop_seconds: Seconds between window starts (a new index: default one clip;
            else the index's).
        workers: Processes reading inputs while this one embeds.
        soundfont: For rendering MIDI (mel models); default as ``tfembed-embed``,
            or the index's.
        max_piece_seconds: MIDI files are cut at this length (default as
            ``tfembed-embed``, or the index's).
        batch_size: Clips per call of the model.
        instruments: Who plays MIDI rendered for a mel model, as ``tfembed-prepare
            --instruments`` (a new index: default ``piano``; else the index's).

    Returns:
        ``tfembed-embed``'s index of the run (``done``, ``failed``, ``resumed``,
        ``clips``, ``files``) with ``search``: the index's ``search.json``.

    Raises:
        SearchIndexError: No model for a new index, or a model or setting other
            than the index's.
        LockError: Another run holds the folder.
    """
    from tfembed.inference.batch_embed import embed_listed, list_inputs, run_settings
    from tfembed.utils.locking import hold_lock

    out = Path(out)
    with hold_lock(out, "indexing run"):
        earlier = read_record(out)
        embedder = _embedder(
            earlier, out, model, soundfont, max_piece_seconds, batch_size, instruments
        )
        hop = embedder.hop_frames(hop_seconds) / embedder.grid.frames_per_second
        if earlier is not None and hop_seconds is None:
            hop = earlier["hop_seconds"]
        settings = run_settings(embedder, hop)
        if earlier is not None:
            _check_settings(earlier["settings"], settings, out)
        sources = list(
            dict.fromkeys([*(earlier or {}).get("sources", ()), *map(_absolute, inputs)])
        )
        listed = _unique(list_inputs(sources))
        run = embed_listed(embedder, listed, out, hop, workers, PROGRAM)
        order = {str(item.path): position for position, item in enumerate(listed)}
        done = sorted(
            (entry for entry in run["files"] if entry["status"] == "done"),
            key=lambda entry: order[entry["input"]],
        )
        record = _record(embedder, settings, hop, [s for s in sources if Path(s).exists()])
        files = files_table(done)
        if earlier is not None and _same(earlier, record, files, out):
            return {**run, "search": earlier}
        return {**run, "search": write_index(out, record, files)}


def _same(earlier: dict[str, Any], record: dict[str, Any], files: list, out: Path) -> bool:
    """Whether the index already holds ``record`` and ``files`` whole."""
    kept = {key: value for key, value in earlier.items() if key not in DERIVED}
    return kept == record and earlier["files"] == files and (out / earlier["matrix"]).is_file()


def _absolute(path: str | os.PathLike) -> str:
    """A path as the index records it: absolute, so later runs find it from anywhere."""
    return os.path.abspath(path)


def _unique(listed: list[Listed]) -> list[Listed]:
    """The listed inputs, each file once (a file given alone and inside a given folder)."""
    seen: set[str] = set()
    kept = []
    for item in listed:
        key = os.path.realpath(item.path)
        if item.problem is None and key in seen:
            continue
        seen.add(key)
        kept.append(item)
    return kept


def _embedder(
    earlier: dict[str, Any] | None,
    out: Path,
    model: str | os.PathLike | None,
    soundfont: str | os.PathLike | None,
    max_piece_seconds: float | None,
    batch_size: int,
    instruments: str | None,
) -> Embedder:
    """The model to index with: the index's (checked), or the one given for a new index."""
    from tfembed.inference.embedder import Embedder
    from tfembed.search.model import index_embedder

    if earlier is not None:
        return index_embedder(
            earlier, out, model, batch_size, soundfont, max_piece_seconds, instruments
        )
    if model is None:
        raise SearchIndexError(f"{out} is a new index: give the model to embed with (--model)")
    options = {} if max_piece_seconds is None else {"max_midi_seconds": max_piece_seconds}
    if instruments is not None:
        options["instruments"] = instruments
    return Embedder(model, batch_size, soundfont, load=False, **options)


_OPTIONS = {
    "hop_seconds": "--hop",
    "soundfont": "--soundfont",
    "max_piece_seconds": "--max_piece_seconds",
    "instruments": "--instruments",
}


def _check_settings(earlier: dict[str, Any], settings: dict[str, Any], out: Path) -> None:
    """Refuses a run whose hop, soundfont, length cap or instruments differ from the index's."""
    differ = [key for key in _OPTIONS if earlier.get(key) != settings.get(key)]
    if differ:
        were = ", ".join(f"{_OPTIONS[key]} {_shown(earlier, key)}" for key in differ)
        now = ", ".join(f"{_OPTIONS[key]} {_shown(settings, key)}" for key in differ)
        raise SearchIndexError(
            f"{out} was built with {were}, not {now}: its windows would not be comparable; "
            "leave these options out to use the index's, or build another index elsewhere"
        )


def _shown(settings: dict[str, Any], key: str) -> Any:
    """A setting as the user gave it (settings leave out the piano, the default players)."""
    if key == "instruments" and key not in settings:
        from tfembed.inference.inputs import DEFAULT_INSTRUMENTS

        return DEFAULT_INSTRUMENTS
    return settings.get(key)


def _record(
    embedder: Embedder, settings: dict[str, Any], hop: float, sources: list[str]
) -> dict[str, Any]:
    """``search.json`` but its files table and matrix."""
    from tfembed.search.model import model_record

    return {
        "format": FORMAT,
        "model": model_record(embedder, settings["model_identity"]),
        "domain": embedder.domain,
        "hop_seconds": hop,
        "clip_seconds": embedder.grid.clip_seconds,
        "embedding_size": embedder.embedding_size,
        "settings": settings,
        "sources": sources,
    }
