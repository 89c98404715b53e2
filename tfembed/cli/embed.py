"""``tfembed-embed``: MIDI and audio files -> clip and piece embeddings.

Example: ``tfembed-embed song.mid recordings/`` embeds with the shipped model
sym_sym (MIDI only) or mel_mel (any audio among the inputs) into ./embeddings.
``OUT/embeddings.npy`` holds one piece embedding per embedded input, in the
order of ``OUT/files.txt``. For every input, ``OUT/<input name>.npz`` (inputs
inside a folder keep their path below ``OUT/<folder name>/``) holds ``embedding`` ``[clips, 128]``,
``timestamps`` ``[clips]`` (window start times in seconds), ``padded``
``[clips]`` (windows that reach past the end of the input, filled with silence)
and ``piece_embedding`` ``[128]`` (mean of the unpadded windows).
``OUT/index.json`` maps every input to its output or to the reason it failed.
Exit status: 0 when every input was embedded; 1 when any failed (after all the
others are done) or the model or --out cannot be used; 2 for a usage error (a
bad option, an unknown model name).
Rerunning an interrupted command resumes it: inputs already embedded with the
same model and settings, and unchanged since, are not embedded again.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tfembed.cli import ERROR, add_version, run_reporting_errors
from tfembed.features.framegrid import EMBED_BATCH_SIZE
from tfembed.preparation import DEFAULT_MAX_PIECE_SECONDS
from tfembed.preparation.instruments import INSTRUMENT_CHOICES, PIANO

DEFAULT_OUT = "embeddings"
DEFAULT_MODELS = {"audio": "mel_mel", "midi": "sym_sym"}
"""The shipped model used without ``--saved_model``: mel_mel when any input is audio."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfembed-embed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="MIDI or audio files, folders")
    parser.add_argument(
        "--saved_model",
        help="folder written by tfembed-export, or a shipped model name (mel_mel, sym_sym, "
        "mel_sym, sym_mel); default: mel_mel when any input is audio, else sym_sym. A joint "
        "export (tfembed-export --tower both) embeds MIDI as piano roll and audio as log-mel",
    )
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument(
        "--hop",
        type=float,
        default=None,
        help="seconds between window starts (default: the clip length, 3 s; "
        "smaller hops give overlapping windows)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes that render MIDI and decode audio while the model embeds "
        "(default 1; the outputs are the same for any number)",
    )
    parser.add_argument(
        "--batch_size", type=int, default=EMBED_BATCH_SIZE, help="clips per model call"
    )
    parser.add_argument("--soundfont", help="General MIDI soundfont for rendering MIDI")
    parser.add_argument(
        "--instruments",
        choices=INSTRUMENT_CHOICES,
        default=PIANO,
        help="who plays MIDI rendered for a mel model, as tfembed-prepare --instruments "
        f"(default {PIANO}, as the shipped models were trained)",
    )
    parser.add_argument(
        "--max_piece_seconds",
        type=float,
        default=DEFAULT_MAX_PIECE_SECONDS,
        help="MIDI files longer than this are cut, as in preparation "
        f"(default {DEFAULT_MAX_PIECE_SECONDS:.0f})",
    )
    add_version(parser)
    return parser


def _default_model(listed: list) -> str:
    """The shipped model for these inputs, said on stderr."""
    from tfembed.inference.inputs import is_audio

    kind = "audio" if any(is_audio(item.path) for item in listed) else "midi"
    name = DEFAULT_MODELS[kind]
    print(
        f"tfembed-embed: model: {name} (the default for {'audio' if kind == 'audio' else 'MIDI'}"
        " inputs; choose another with --saved_model)",
        file=sys.stderr,
    )
    return name


def _summary(index: dict, out: str) -> str:
    """The last line of a run: what was embedded, how fast, and where."""
    from tfembed.inference.batch_embed import FILES_NAME, INDEX_NAME, MATRIX_NAME

    total = index["done"] + index["failed"]
    if index["embedded_clips"] and index["embedding_seconds"] > 0:
        rate = f", {index['embedded_clips'] / index['embedding_seconds']:.1f} clips/s"
    else:
        rate = ""
    resumed = f", {index['resumed']} already done" if index["resumed"] else ""
    return (
        f"embedded {index['done']} of {total} inputs ({index['clips']} clips{rate}{resumed}) "
        f"into {out}: {MATRIX_NAME} ({index['done']} x {index['embedding_size']}) "
        f"+ {FILES_NAME}; per-input clips in .npz; index: {Path(out) / INDEX_NAME}"
    )


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from tfembed.errors import InputError
    from tfembed.inference.batch_embed import embed_files, list_inputs
    from tfembed.inference.embedder import Embedder

    model = args.saved_model or _default_model(list_inputs(args.inputs))
    embedder = Embedder(
        model,
        args.batch_size,
        args.soundfont,
        args.max_piece_seconds,
        load=False,
        instruments=args.instruments,
    )
    try:
        embedder.hop_frames(args.hop)
    except InputError as error:
        parser.error(f"--hop: {error}")
    index = embed_files(embedder, args.inputs, args.out, args.hop, args.workers)
    print(_summary(index, args.out))
    if index["failed"]:
        print(f"tfembed-embed: {index['failed']} input(s) failed (see above)", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Runs ``tfembed-embed``; returns the process exit status (0, 1: an input failed, 2: usage)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.hop is not None and not args.hop > 0:
        parser.error(f"--hop must be positive, not {args.hop}")
    if args.batch_size < 1:
        parser.error(f"--batch_size must be at least 1, not {args.batch_size}")
    if args.workers < 1:
        parser.error(f"--workers must be at least 1, not {args.workers}")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        print(f"tfembed-embed: error: --out {args.out} is a file; give a folder", file=sys.stderr)
        return ERROR
    return run_reporting_errors("tfembed-embed", lambda: _run(parser, args))


if __name__ == "__main__":
    sys.exit(main())
