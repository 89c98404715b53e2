"""``tfembed-prepare``: MIDI files or the music21 corpus -> labelled clips in TFRecords."""

from __future__ import annotations

import argparse
import signal
import sys

from tfembed.cli import add_version
from tfembed.errors import TfembedError
from tfembed.preparation import DEFAULT_MAX_PIECE_SECONDS
from tfembed.preparation.instruments import INSTRUMENT_CHOICES, PIANO


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfembed-prepare",
        description="Render MIDI as piano, compute log-mel and piano roll on one frame grid, "
        "and write labelled 3-second clips as sharded TFRecords plus manifest.json. "
        "Rerun the same command to resume an interrupted run.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--midi_dir", help="folder of MIDI files (.mid, .midi, .kar, .smf, .rmi), recursive"
    )
    source.add_argument(
        "--corpus", choices=["music21"], help="the score corpus shipped with music21 (no download)"
    )
    parser.add_argument(
        "--metadata",
        help="MAESTRO-style CSV for --midi_dir "
        "(canonical_composer, canonical_title, split, midi_filename)",
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes (default 1); with --runner beam, the local DirectRunner's",
    )
    parser.add_argument(
        "--runner",
        choices=["local", "beam"],
        default="local",
        help="local: a process pool (default); beam: an Apache Beam pipeline (tfembed[beam])",
    )
    parser.add_argument(
        "--pipeline_options",
        help="Beam pipeline options as one string, e.g. '--runner=DataflowRunner "
        "--project=P --region=R --temp_location=gs://B/tmp' (default: DirectRunner, "
        "multi_processing, --workers processes)",
    )
    soundfonts = parser.add_mutually_exclusive_group()
    soundfonts.add_argument("--soundfont", help="General MIDI .sf2 (default: found automatically)")
    soundfonts.add_argument(
        "--soundfonts",
        help="render every piece with each of these soundfonts, A.sf2,B.sf2,... "
        "(the first is the reference rendering)",
    )
    parser.add_argument("--composers", nargs="+", help="music21 corpus folders to use")
    parser.add_argument(
        "--pieces_per_composer",
        type=int,
        help="cap on music21 corpus pieces per composer (default 40; 0 takes all)",
    )
    parser.add_argument(
        "--pretrain_pieces_per_composer",
        type=int,
        default=0,
        help="up to this many more music21 pieces per composer, for self-supervised "
        "training only (split 'pretrain'; works of the capped pieces are left out)",
    )
    parser.add_argument(
        "--tempo_policy",
        choices=["draw", "stated"],
        help="a file that states no tempo is rendered at a tempo drawn per piece (draw, "
        "the default for --corpus) or at MIDI's 120 with its tempo left out of the tempo "
        "task (stated, the default for --midi_dir)",
    )
    parser.add_argument(
        "--max_score_kb",
        type=int,
        help="largest music21 score taken, uncompressed KB (default 1500)",
    )
    parser.add_argument(
        "--max_piece_seconds",
        type=float,
        default=DEFAULT_MAX_PIECE_SECONDS,
        help=f"length cap per piece (default {DEFAULT_MAX_PIECE_SECONDS:.0f})",
    )
    parser.add_argument(
        "--long_pieces",
        choices=["cut", "skip"],
        default="cut",
        help="what to do with a piece over the cap (default cut)",
    )
    parser.add_argument(
        "--instruments",
        default=PIANO,
        help="who plays: piano for every part, drums left out (the paper's, default); "
        "as_written: each part's General MIDI program, drums left out; "
        "as_written_with_drums: the drums too. One choice for every soundfont, or a "
        "comma list with one per --soundfonts entry (a soundfont may be listed again "
        f"with another choice). Choices: {', '.join(INSTRUMENT_CHOICES)}",
    )
    add_version(parser)
    return parser


def _instruments(text: str) -> str | list[str]:
    """The ``--instruments`` value: one choice, or one per soundfont (``piano,as_written``)."""
    return [entry.strip() for entry in text.split(",")] if "," in text else text.strip()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Runs ``tfembed-prepare``; returns the process exit status."""
    args = _parser().parse_args(argv)
    if args.metadata and not args.midi_dir:
        _parser().error("--metadata needs --midi_dir")
    if args.pipeline_options and args.runner != "beam":
        _parser().error("--pipeline_options needs --runner beam")
    signal.signal(signal.SIGTERM, _interrupt)
    from tfembed.preparation.prepare import prepare
    from tfembed.preparation.soundfonts import split_soundfont_list

    try:
        manifest = prepare(
            args.out,
            midi_dir=args.midi_dir,
            metadata=args.metadata,
            corpus=args.corpus,
            composers=args.composers,
            pieces_per_composer=args.pieces_per_composer,
            pretrain_pieces_per_composer=args.pretrain_pieces_per_composer,
            max_score_kb=args.max_score_kb,
            workers=args.workers,
            soundfont=args.soundfont,
            soundfonts=split_soundfont_list(args.soundfonts) if args.soundfonts else None,
            max_piece_seconds=args.max_piece_seconds,
            long_pieces=args.long_pieces,
            instruments=args.instruments.split(",")
            if "," in args.instruments
            else args.instruments,
            runner=args.runner,
            pipeline_options=args.pipeline_options,
            tempo_policy=args.tempo_policy,
        )
    except TfembedError as error:
        print(f"tfembed-prepare: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            f"tfembed-prepare: interrupted; finished pieces are kept in {args.out}. "
            "Run the same command again to resume.",
            file=sys.stderr,
        )
        return 130
    counts = manifest["counts"]
    print(
        f"prepared {sum(counts['pieces'].values())} pieces, "
        f"{sum(counts['clips'].values())} clips "
        f"({', '.join(f'{split} {n}' for split, n in counts['clips'].items())}); "
        f"{counts['failed_pieces']} failed; written to {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
