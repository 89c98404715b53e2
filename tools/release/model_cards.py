"""Summarizes a build's evaluation and data into docs/results/, then writes the cards and manifest.

Run by ``tools/release/build_models.sh`` after training, export and evaluation:

    python tools/release/model_cards.py --work runs/shipped --eval runs/shipped/eval \
        --command "bash tools/release/build_models.sh"

It writes ``docs/results/shipped_models.json`` (from ``tfembed-eval``'s
``report.json``) and ``docs/results/shipped_training.json`` (from the dataset's
``manifest.json``), then everything generated from them, as
``tools/release/results_tables.py`` does: the tables of README.md and
docs/results.md, every ``MODEL_CARD.md`` and ``saved_models/MANIFEST.json``.

A model built on other data than the four (the joint model, on several renderings)
keeps its own results, ``docs/results/model_NAME.json``:

    python tools/release/model_cards.py --model joint --work runs/joint-build \
        --eval runs/joint-build/eval --crossmodal runs/joint-build/crossmodal \
        --data_name data/five --command "bash tools/release/build_joint.sh"
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tfembed.dataset.manifest import read_manifest
from tfembed.evaluation.crossmodal import CROSSMODAL_JSON
from tfembed.evaluation.evaluate import REPORT_JSON
from tfembed.evaluation.robustness import ROBUSTNESS_JSON
from tfembed.results import generate
from tfembed.results.cards import crossmodal_summary, training_data
from tfembed.results.summary import head_commit, provenance, summarize
from tfembed.utils.atomic import write_json_atomically

REPO = Path(__file__).resolve().parents[2]
SHIPPED_TITLE = (
    "The shipped models on the test split of the default corpus (`tfembed-prepare "
    "--corpus music21 --pieces_per_composer 40`), whose works no shipped model trained on"
)


def main(argv: list[str] | None = None) -> int:
    """Writes the two summaries, then the generated files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, type=Path, help="the build's work folder")
    parser.add_argument("--eval", required=True, type=Path, help="tfembed-eval's --out")
    parser.add_argument("--command", default="bash tools/release/build_models.sh")
    parser.add_argument("--model", help="write this model's own results (model_NAME.json)")
    parser.add_argument("--crossmodal", type=Path, help="tfembed-eval --crossmodal's --out")
    parser.add_argument("--data_name", default="data/default", help="the data, as docs name it")
    args = parser.parse_args(argv)
    commit = head_commit(REPO)
    report = json.loads((args.eval / REPORT_JSON).read_text())
    manifest = read_manifest(args.work / "data")
    if args.model:
        _write_own(args, report, manifest, commit)
    else:
        _write_shipped(args, report, manifest, commit)
    for path in generate.write(REPO):
        print(f"wrote {path.relative_to(REPO)}")
    return 0


def _write_shipped(args: argparse.Namespace, report: dict, manifest: dict, commit: str) -> None:
    """Writes the four models' ``shipped_models.json`` and ``shipped_training.json``."""
    results = REPO / generate.RESULTS
    write_json_atomically(
        results / generate.SHIPPED,
        summarize(report, SHIPPED_TITLE, "data/default", provenance(args.command, commit)),
    )
    prepared = str(manifest.get("created", ""))[:10] or None
    origin = provenance(args.command, commit, prepared)
    write_json_atomically(results / generate.TRAINING, training_data(manifest, origin))


def _write_own(args: argparse.Namespace, report: dict, manifest: dict, commit: str) -> None:
    """Writes ``docs/results/model_NAME.json``: training data, evaluation, cross-modal report.

    With ``robustness.json`` beside the evaluation's report (``tfembed-eval --renderings``),
    its figures on the other renderings too.
    """
    origin = provenance(args.command, commit)
    prepared = str(manifest.get("created", ""))[:10] or None
    own = {
        "training": training_data(manifest, provenance(args.command, commit, prepared)),
        "evaluation": summarize(
            report,
            f"The {args.model} model's towers beside MEL_MEL and SYM_SYM trained for as many "
            f"steps, test split of `{args.data_name}` (reference rendering)",
            args.data_name,
            origin,
        ),
    }
    if args.crossmodal:
        result = json.loads((args.crossmodal / CROSSMODAL_JSON).read_text())
        title = f"The {args.model} model across domains: audio against piano roll"
        own["crossmodal"] = crossmodal_summary(result, title, args.data_name, origin)
    robustness = args.eval / ROBUSTNESS_JSON
    if robustness.is_file():
        own["robustness"] = {
            "title": f"The {args.model} model's mel tower on renderings never heard in training "
            "beside MEL_MEL trained on the same renderings for as many steps (`mel_mel`), "
            f"test split of `{args.data_name}`",
            "provenance": origin,
            "result": json.loads(robustness.read_text()),
        }
    name = generate.OWN_RESULTS.format(name=args.model)
    write_json_atomically(REPO / generate.RESULTS / name, own)


if __name__ == "__main__":
    sys.exit(main())
