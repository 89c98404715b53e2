"""``tfembed-search``: find where a recording or a MIDI file occurs in a collection.

    tfembed-search index --model mel_mel --out IDX [--hop 1.5] [--workers 2] FILES_OR_FOLDERS
    tfembed-search query IDX QUERY_FILES_OR_FOLDERS [--top 10] [--json OUT.json]

``index`` embeds MIDI and audio files window by window into the folder IDX (a
``tfembed-embed`` output folder plus a search matrix); rerunning it adds what is
new in the files and folders it was given before and now, and embeds nothing
already done. ``query`` embeds each query file with the index's model and hop
and ranks the indexed files by their best alignment with it: for each offset,
the mean cosine of the query's windows with the file's windows they fall on; a
file's score is that of its best offset, whose time in the file is its start.
Exit status: 0 when every file was indexed or searched; 1 when any failed
(after all the others are done), or the index, the model or the folder cannot
be used (another model than the index's is refused); 2 for a usage error.
"""

from __future__ import annotations

import argparse
import sys

from tfembed.cli import ERROR, add_version, run_reporting_errors
from tfembed.features.framegrid import EMBED_BATCH_SIZE
from tfembed.preparation.instruments import INSTRUMENT_CHOICES

PROGRAM = "tfembed-search"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROGRAM, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_version(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="{index,query}")
    index = commands.add_parser("index", help="embed files into an index (resumable)")
    index.add_argument("inputs", nargs="*", metavar="INPUT", help="MIDI or audio files, folders")
    index.add_argument("--out", required=True, help="the index folder")
    index.add_argument(
        "--model",
        help="folder written by tfembed-export or a shipped model name (mel_mel reads MIDI "
        "and audio); required for a new index, else the index's",
    )
    index.add_argument(
        "--hop",
        type=float,
        help="seconds between window starts, the resolution of match starts "
        "(a new index: default the clip length, 3 s; else the index's)",
    )
    index.add_argument(
        "--workers", type=int, default=1, help="processes rendering MIDI and decoding audio"
    )
    index.add_argument("--soundfont", help="General MIDI soundfont for rendering MIDI")
    index.add_argument(
        "--instruments",
        choices=INSTRUMENT_CHOICES,
        help="who plays MIDI rendered for a mel model, as tfembed-prepare --instruments "
        "(a new index: default piano; else the index's)",
    )
    index.add_argument(
        "--max_piece_seconds", type=float, help="MIDI files longer than this are cut"
    )
    index.add_argument(
        "--batch_size", type=int, default=EMBED_BATCH_SIZE, help="clips per model call"
    )
    query = commands.add_parser("query", help="rank the indexed files for each query file")
    query.add_argument("index", help="an index folder written by tfembed-search index")
    query.add_argument("queries", nargs="+", metavar="QUERY", help="MIDI or audio files, folders")
    query.add_argument("--top", type=int, default=10, help="matches per query (default 10)")
    query.add_argument("--json", help="also write the matches to this JSON file")
    query.add_argument(
        "--model", help="the model to query with: refused unless it is the index's model"
    )
    query.add_argument(
        "--chunk_windows",
        type=int,
        default=None,
        help="index windows scored at a time (bounds memory; default 65536)",
    )
    query.add_argument(
        "--batch_size", type=int, default=EMBED_BATCH_SIZE, help="clips per model call"
    )
    return parser


def _index(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from tfembed.search.build import index_files
    from tfembed.search.index import read_record

    if read_record(args.out) is None:
        if args.model is None:
            parser.error(f"{args.out} is a new index: give the model to embed with (--model)")
        if not args.inputs:
            parser.error(f"{args.out} is a new index: give files or folders to index")
    run = index_files(
        args.inputs,
        args.out,
        args.model,
        args.hop,
        args.workers,
        args.soundfont,
        args.max_piece_seconds,
        args.batch_size,
        args.instruments,
    )
    search = run["search"]
    windows = sum(entry["windows"] for entry in search["files"])
    resumed = f", {run['resumed']} already done" if run["resumed"] else ""
    print(
        f"indexed {len(search['files'])} files ({windows} windows of "
        f"{search['clip_seconds']:g} s every {search['hop_seconds']:g} s; "
        f"{run['embedded_clips']} embedded now{resumed}) with {search['model']['name']} "
        f"into {args.out}"
    )
    if run["failed"]:
        print(f"{PROGRAM}: {run['failed']} input(s) failed (see above)", file=sys.stderr)
        return ERROR
    return 0


def _query(args: argparse.Namespace) -> int:
    from tfembed.search.index import open_index
    from tfembed.search.model import index_embedder
    from tfembed.search.query import results_json, search_index
    from tfembed.search.scoring import DEFAULT_CHUNK_WINDOWS
    from tfembed.utils.atomic import write_json_atomically

    index = open_index(args.index)
    embedder = index_embedder(index.record, args.index, args.model, args.batch_size)
    chunk = args.chunk_windows or DEFAULT_CHUNK_WINDOWS
    results = []
    for result in search_index(index, embedder, args.queries, args.top, chunk):
        results.append(result)
        if result.error is not None:
            print(f"{PROGRAM}: failed {result.query}: {result.error}", file=sys.stderr)
            continue
        print(f"{result.query} ({result.windows} windows):")
        print(f"  {'rank':>4}  {'score':>6}  {'start':>9}  file")
        for rank, match in enumerate(result.matches, 1):
            print(f"  {rank:4d}  {match['score']:6.3f}  {match['start']:7.1f} s  {match['file']}")
    if args.json:
        write_json_atomically(args.json, results_json(index, results))
        print(f"matches written to {args.json}")
    failed = sum(result.error is not None for result in results)
    if failed:
        print(f"{PROGRAM}: {failed} query file(s) failed (see above)", file=sys.stderr)
        return ERROR
    return 0


def _check_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exits with a usage error for a count below 1 or a hop that is not positive."""
    for option in ("batch_size", "workers", "top", "chunk_windows"):
        value = getattr(args, option, None)
        if value is not None and value < 1:
            parser.error(f"--{option} must be at least 1, not {value}")
    hop = getattr(args, "hop", None)
    if hop is not None and not hop > 0:
        parser.error(f"--hop must be positive, not {hop}")


def main(argv: list[str] | None = None) -> int:
    """Runs ``tfembed-search``; returns the exit status (0, 1: a file failed, 2: usage)."""
    parser = _parser()
    args = parser.parse_args(argv)
    _check_options(parser, args)
    if args.command == "index":
        return run_reporting_errors(PROGRAM, lambda: _index(parser, args))
    return run_reporting_errors(PROGRAM, lambda: _query(args))


if __name__ == "__main__":
    sys.exit(main())
