"""``tfembed-embed``: MIDI and audio files -> clip and piece embeddings in .npz files.

For every input, ``OUT/<input name>.npz`` (inputs inside a folder keep their path
below ``OUT/<folder name>/``) holds ``embedding`` ``[clips, 128]``,
``timestamps`` ``[clips]`` (window start times in seconds), ``padded``
``[clips]`` (windows that reach past the end of the input, filled with silence)
and ``piece_embedding`` ``[128]`` (mean of the unpadded windows).
``OUT/index.json`` maps every input to its output or to the reason it failed.
The exit status is 1 if any input failed, after all the others are done.
Rerunning an interrupted command resumes it: inputs already embedded with the
same model and settings, and unchanged since, are not embedded again.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from tfembed.preparation import DEFAULT_MAX_PIECE_SECONDS

INDEX_NAME = "index.json"


def _inputs(paths: list[str]) -> list[tuple[Path, Path | None, str | None]]:
    """Lists ``(input file, output path relative to OUT, problem)`` for the given paths.

    Folders are walked for MIDI and audio files (links to folders followed); a
    given file of another type, a missing path, a folder that cannot be read or
    one with nothing to embed is listed with its problem.
    """
    from tfembed.inference.audio import AUDIO_SUFFIXES
    from tfembed.preparation.sources import MIDI_SUFFIXES
    from tfembed.utils.files import find_files

    suffixes = MIDI_SUFFIXES + AUDIO_SUFFIXES
    listed: list[tuple[Path, Path | None, str | None]] = []
    used: set[Path] = set()

    def add(path: Path, relative: Path) -> None:
        output = relative.with_name(relative.name + ".npz")
        count = 1
        while output in used:
            count += 1
            output = relative.with_name(f"{relative.name}-{count}.npz")
        used.add(output)
        listed.append((path, output, None))

    for given in map(Path, paths):
        if given.is_dir():
            found, unreadable = find_files(given, suffixes)
            listed += [(Path(problem["file"]), None, problem["problem"]) for problem in unreadable]
            if not found and not unreadable:
                listed.append((given, None, f"no MIDI or audio files ({', '.join(suffixes)})"))
            name = given.resolve().name or "root"
            for path in found:
                add(path, Path(name) / path.relative_to(given))
        elif not given.exists():
            listed.append((given, None, "no such file or folder"))
        elif given.suffix.lower() not in suffixes:
            listed.append(
                (
                    given,
                    None,
                    f"unsupported file type {given.suffix or '(no suffix)'!r}; "
                    f"expected MIDI or audio ({', '.join(suffixes)})",
                )
            )
        else:
            add(given, Path(given.name))
    return listed


def embed_files(
    embedder, inputs: list[str], out: str | os.PathLike, hop_seconds: float | None
) -> dict[str, Any]:
    """Embeds files and folders into ``out``; returns the index (also written there).

    An input already embedded into ``out`` by an earlier run with the same model
    and settings, unchanged since and whose output is still there, is not
    embedded again (:mod:`tfembed.inference.resume`): rerunning an interrupted
    command resumes it. One run at a time may write into ``out``.

    Args:
        embedder: A loaded :class:`tfembed.inference.embedder.Embedder`.
        inputs: MIDI files, audio files and folders of them.
        out: Output folder.
        hop_seconds: Seconds between window starts (default: one clip).

    Raises:
        LockError: Another run is writing into ``out``.
    """
    from tfembed.utils.locking import hold_lock

    out = Path(out)
    with hold_lock(out, "embedding run"):
        return _embed_files_locked(embedder, inputs, out, hop_seconds)


def _settings(embedder, hop_seconds: float | None) -> dict[str, Any]:
    """What the outputs depend on besides the inputs."""
    from tfembed.inference.resume import model_identity

    return {
        "saved_model": str(embedder.path.resolve()),
        "model_identity": model_identity(embedder.path),
        "hop_seconds": hop_seconds if hop_seconds is not None else embedder.grid.clip_seconds,
        "max_piece_seconds": embedder.max_midi_seconds,
        "soundfont": embedder.soundfont_name(),
    }


def _embed_files_locked(
    embedder, inputs: list[str], out: Path, hop_seconds: float | None
) -> dict[str, Any]:
    from tqdm import tqdm

    from tfembed.errors import PieceError
    from tfembed.inference.audio import AUDIO_SUFFIXES
    from tfembed.inference.resume import Journal, input_stamp
    from tfembed.utils.atomic import write_json_atomically, write_npz_atomically

    listed = _inputs(inputs)
    settings = _settings(embedder, hop_seconds)
    journal = Journal(out, settings)
    entries = []
    total_clips = resumed = 0
    started = time.perf_counter()
    bar = tqdm(listed, unit="file", desc="embed", dynamic_ncols=True, disable=None)
    try:
        for path, output, problem in bar:
            entry: dict[str, Any] = {"input": str(path)}
            earlier = journal.reusable(path, output) if problem is None else None
            if earlier is not None:
                entries.append(earlier)
                total_clips += earlier["clips"]
                resumed += 1
                continue
            if problem is None:
                try:
                    entry.update(input_stamp(path))
                    if path.suffix.lower() in AUDIO_SUFFIXES:
                        result = embedder.embed_audio_file(path, hop_seconds)
                    else:
                        result = embedder.embed_midi(path, hop_seconds)
                except PieceError as error:
                    problem = str(error)
                except OSError as error:
                    problem = f"cannot read the file: {error.strerror or error}"
                except Exception as error:  # one bad file must not stop the others
                    problem = f"unexpected {type(error).__name__}: {error}"
            if problem is not None:
                bar.write(f"tfembed-embed: failed {path}: {problem}", file=sys.stderr)
                entry.update(status="failed", error=problem)
                entries.append(entry)
                continue
            write_npz_atomically(out / output, result.arrays())
            _add_notes(bar, embedder, path, result, entry)
            entry.update(
                status="done",
                output=output.as_posix(),
                clips=len(result.timestamps),
                padded_clips=int(result.padded.sum()),
            )
            journal.record(entry)
            entries.append(entry)
            total_clips += entry["clips"]
            bar.set_postfix(clips_per_s=f"{total_clips / (time.perf_counter() - started):.1f}")
    finally:
        bar.close()
        journal.close(finished=len(entries) == len(listed))
    if resumed:
        print(
            f"tfembed-embed: resumed: {resumed} of {len(listed)} inputs were already embedded "
            f"in {out} with the same model and settings, and unchanged",
            file=sys.stderr,
        )
    seconds = time.perf_counter() - started
    index = {
        "saved_model": settings["saved_model"],
        "hop_seconds": settings["hop_seconds"],
        "domain": embedder.domain,
        "clip_seconds": embedder.grid.clip_seconds,
        "settings": settings,
        "files": entries,
        "done": sum(entry["status"] == "done" for entry in entries),
        "failed": sum(entry["status"] == "failed" for entry in entries),
        "resumed": resumed,
        "clips": total_clips,
        "wall_seconds": round(seconds, 3),
    }
    write_json_atomically(out / INDEX_NAME, index)
    return index


def _add_notes(bar, embedder, path: Path, result, entry: dict[str, Any]) -> None:
    """Prints what a user should know about an embedded input and records it in its entry."""
    for repair in result.repairs:
        bar.write(f"tfembed-embed: note: {path}: {repair}", file=sys.stderr)
    if result.repairs:
        entry["repairs"] = list(result.repairs)
    if result.padded.all():
        bar.write(
            f"tfembed-embed: note: {path} is shorter than one clip "
            f"({embedder.grid.clip_seconds:g} s): padded with silence and flagged",
            file=sys.stderr,
        )
    if result.cut_at_seconds is not None:
        bar.write(
            f"tfembed-embed: note: {path} is longer than --max_piece_seconds: "
            f"cut at {result.cut_at_seconds:.0f} s",
            file=sys.stderr,
        )
        entry["cut_at_seconds"] = result.cut_at_seconds


def main(argv: list[str] | None = None) -> int:
    """Runs ``tfembed-embed``; returns the process exit status."""
    parser = argparse.ArgumentParser(prog="tfembed-embed", description=__doc__)
    parser.add_argument(
        "--saved_model",
        required=True,
        help="folder written by tfembed-export, or a shipped model name (mel_mel, sym_sym, ...)",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="MIDI or audio files, folders")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--hop",
        type=float,
        default=None,
        help="seconds between window starts (default: the clip length, 3 s; "
        "smaller hops give overlapping windows)",
    )
    parser.add_argument("--batch_size", type=int, default=64, help="clips per model call")
    parser.add_argument("--soundfont", help="General MIDI soundfont for rendering MIDI")
    parser.add_argument(
        "--max_piece_seconds",
        type=float,
        default=DEFAULT_MAX_PIECE_SECONDS,
        help="MIDI files longer than this are cut, as in preparation "
        f"(default {DEFAULT_MAX_PIECE_SECONDS:.0f})",
    )
    args = parser.parse_args(argv)
    if args.hop is not None and not args.hop > 0:
        parser.error(f"--hop must be positive, not {args.hop}")
    if args.batch_size < 1:
        parser.error(f"--batch_size must be at least 1, not {args.batch_size}")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        print(f"tfembed-embed: error: --out {args.out} is a file; give a folder", file=sys.stderr)
        return 1
    from tfembed.errors import TfembedError
    from tfembed.inference.embedder import Embedder

    try:
        embedder = Embedder(
            args.saved_model, args.batch_size, args.soundfont, args.max_piece_seconds
        )
        embedder.hop_frames(args.hop)
    except (TfembedError, ValueError) as error:
        print(f"tfembed-embed: error: {error}", file=sys.stderr)
        return 1
    try:
        index = embed_files(embedder, args.inputs, args.out, args.hop)
    except TfembedError as error:  # another run holds --out
        print(f"tfembed-embed: error: {error}", file=sys.stderr)
        return 1
    rate = index["clips"] / index["wall_seconds"] if index["wall_seconds"] else 0.0
    print(
        f"embedded {index['done']} of {index['done'] + index['failed']} inputs "
        f"({index['clips']} clips, {rate:.1f} clips/s) into {args.out}; "
        f"index: {Path(args.out) / INDEX_NAME}"
    )
    if index["failed"]:
        print(f"tfembed-embed: {index['failed']} input(s) failed (see above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
