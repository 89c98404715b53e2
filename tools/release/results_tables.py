"""Writes the results tables of README.md and docs/, and the model cards, from docs/results/*.json.

    python tools/release/results_tables.py            # write what changed (and MANIFEST.json)
    python tools/release/results_tables.py --check    # list stale files, exit 1 if any
    python tools/release/results_tables.py summarize --report RUN/report.json \
        --title "The shipped models" --data "the default corpus's test split" \
        --command "tfembed-eval ..." --out docs/results/shipped_models.json

``summarize`` turns a ``tfembed-eval`` report into the small JSON that is committed,
with the date, commit, command and machine of the evaluation.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tfembed.results import generate
from tfembed.results.summary import head_commit, provenance, summarize
from tfembed.utils.atomic import write_json_atomically

REPO = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    """Regenerates, checks, or summarizes one report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO, help="the repository")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    commands = parser.add_subparsers(dest="command")
    summary = commands.add_parser("summarize", help="report.json -> docs/results/NAME.json")
    summary.add_argument("--report", required=True, type=Path)
    summary.add_argument("--title", required=True)
    summary.add_argument("--data", required=True, help="the evaluated data, for a reader")
    summary.add_argument("--command", required=True, dest="evaluated_by")
    summary.add_argument("--date", help="of the evaluation (default: the report's file date)")
    summary.add_argument("--commit", help="of the evaluated code (default: HEAD)")
    summary.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    if args.command == "summarize":
        report = json.loads(args.report.read_text())
        origin = provenance(args.evaluated_by, args.commit or head_commit(args.root), args.date)
        write_json_atomically(args.out, summarize(report, args.title, args.data, origin))
        print(f"wrote {args.out}")
        return 0
    if args.check:
        stale = generate.stale(args.root)
        for path in stale:
            print(f"stale: {path.relative_to(args.root)}")
        return 1 if stale else 0
    for path in generate.write(args.root):
        print(f"wrote {path.relative_to(args.root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
