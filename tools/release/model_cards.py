"""Writes MODEL_CARD.md of each shipped model and saved_models/MANIFEST.json.

Run by ``tools/release/build_models.sh`` after training, export and evaluation:

    python tools/release/model_cards.py --work runs/shipped --models saved_models \
        --eval runs/shipped/eval mel_mel sym_sym mel_sym sym_mel

Every figure in a card is read from what the build wrote: the export's
``metadata.json``, the dataset's ``manifest.json``, the run's TensorBoard log
(training wall time) and ``tfembed-eval``'s ``report.json`` (test metrics with
their spread over probe seeds, and the baselines). The manifest lists every file
of every model with its sha256 and size (cards included), the TensorFlow version
that wrote the model and its headline test figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from tensorboard.backend.event_processing.event_accumulator import TENSORS, EventAccumulator

from tfembed.evaluation.report import markdown
from tfembed.export.format import read_metadata
from tfembed.export.registry import MANIFEST_NAME, model_entry_files
from tfembed.export.tflite import TFLITE_NAME
from tfembed.preparation import splits
from tfembed.training.config import TrainConfig
from tfembed.utils.atomic import write_bytes_atomically, write_json_atomically

CARD_NAME = "MODEL_CARD.md"
HEADLINE_METRICS = ("rank_am", "rank_gm", "composer_micro_f1", "key_micro_f1", "mrr")


def training_seconds(log_dir: Path) -> float | None:
    """Wall time from the first to the last training or validation value of a run's log.

    Other tags (the operative config, example clips) are logged again when a
    finished run is resumed, so they would stretch the span to the rerun.
    """
    events = EventAccumulator(str(log_dir), size_guidance={TENSORS: 0})
    events.Reload()
    times = [
        record.wall_time
        for tag in events.Tags()[TENSORS]
        if tag.startswith(("train/", "validation/"))
        for record in events.Tensors(tag)
    ]
    return max(times) - min(times) if times else None


def machine() -> str:
    """The CPU model, core count and OS of the build machine."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, no GPU"


def _data_lines(manifest: dict[str, Any]) -> list[str]:
    counts = manifest["counts"]
    source = manifest.get("source", {})
    hours = sum(counts["seconds"].values()) / 3600
    composers = manifest["vocabularies"]["composer"]
    lines = [
        f"- Corpus: `{source.get('kind', '?')}`"
        + (
            f" (the score corpus embedded in music21, {source['pieces_per_composer']} pieces "
            "per composer at most), rendered to audio with a General MIDI piano soundfont"
            if source.get("kind") == "music21"
            else ""
        )
        + f"; {len(composers)} composers: {', '.join(composers)}.",
        f"- {sum(counts['pieces'].values())} pieces, {hours:.2f} hours, "
        f"{sum(counts['clips'].values())} clips; per split: "
        + ", ".join(
            f"{split} {counts['pieces'][split]} pieces / {counts['clips'].get(split, 0)} clips / "
            f"{counts['seconds'].get(split, 0) / 3600:.2f} h"
            for split in counts["pieces"]
        )
        + ".",
        f"- Splits: {splits.__doc__.strip().splitlines()[0]} (`tfembed/preparation/splits.py`).",
        *(
            [
                f"- The pretrain split holds up to {source['pretrain_pieces_per_composer']} more "
                "scores per composer, of works in no other split: training may read it, no "
                "evaluation does."
            ]
            if source.get("pretrain_pieces_per_composer")
            else []
        ),
        f"- Dataset created {manifest.get('created')}; {len(manifest.get('failures', []))} "
        "files could not be prepared and were left out.",
    ]
    return lines


def _report_lines(report: dict[str, Any]) -> list[str]:
    lines = markdown(report).splitlines()[1:]
    return [line for line in lines if not line.startswith("![")]


def _metric_lines(row: str, headline: dict[str, Any], report: dict[str, Any] | None) -> list[str]:
    if report is None:
        return ["Not measured: this build wrote no evaluation report.", ""]
    return [
        "`tfembed-eval` on the test split of the data above, all four shipped models "
        f"together; this model is the row {row}. Headline: "
        + ", ".join(
            f"{metric} {headline[metric]['mean']:.3f}"
            for metric in HEADLINE_METRICS
            if metric in headline
        )
        + ".",
        "",
        *_report_lines(report),
        "",
    ]


def card(
    name: str,
    metadata: dict[str, Any],
    manifest: dict[str, Any],
    report: dict[str, Any] | None,
    seconds: float | None,
    has_tflite: bool,
) -> str:
    """The model card of one shipped model, as Markdown."""
    grid = metadata["frame_grid"]
    domain = metadata["domain"]
    frames, bins = grid["clip_frames"], grid["n_mels"] if domain == "mel" else grid["n_pitches"]
    config = metadata["train_config"]
    row = metadata["variant"]
    headline = report["metrics"].get(row, {}) if report else {}
    lines = [
        f"# {name}: tfembed {metadata['variant']}, {metadata['tower']} tower ({domain})",
        "",
        "Self-supervised embeddings of 3-second clips of piano music, trained so that "
        "neighbouring clips of one piece embed close together (siamese convnets, rank "
        "loss). Written by `tools/release/build_models.sh`; every figure below was measured by "
        "that build.",
        "",
        "## Input and output",
        "",
        f"- `serve`: `clips` float32 `[batch, {frames}, {bins}]` -> float32 "
        f"`[batch, {metadata['embedding_size']}]`.",
    ]
    if domain == "mel":
        lines += [
            f"- `embed_audio`: `audio` float32 `[samples]`, mono at {grid['sample_rate']} Hz, "
            f"any level (peak-normalised inside) -> `[clips, {metadata['embedding_size']}]`, "
            "one row per consecutive 3-second window (the last padded with silence).",
            "- `audio_windows`: `audio` and `hop_frames` (int32) -> `embedding`, "
            "`start_frame`, `padded`.",
            f"- Clips are natural-log mel power (+{grid['log_offset']}), {grid['n_mels']} bands "
            f"{grid['fmin']}-{grid['fmax']} Hz, FFT {grid['fft_length']}, hop "
            f"{grid['hop_length']} samples, peak-normalised audio, exactly as "
            "`tfembed/features/frontend.py` computes them.",
        ]
        if has_tflite:
            lines.append(
                f"- `{TFLITE_NAME}`: TFLite conversion of `serve` (builtin ops), tested equal to "
                "`serve` within 1e-4 on real clips."
            )
    else:
        lines.append(
            f"- Clips are piano rolls: {grid['n_pitches']} pitches from MIDI "
            f"{grid['lowest_pitch']}, 1 where a note sounds and 0 elsewhere, on the same "
            "frame grid."
        )
    lines += [
        f"- Frame grid: `{json.dumps(grid, sort_keys=True)}`.",
        "",
        "## Training data",
        "",
        *_data_lines(manifest),
        "",
        "## Recipe",
        "",
        f"- `configs/{name}.gin` with `train.steps = {config['steps']}`, seed {config['seed']}; "
        f"checkpoint `{metadata['checkpoint']}` at step {metadata['checkpoint_step']}.",
        "- Trained on the splits "
        + " and ".join(
            split
            for split in TrainConfig.splits_read(config.get("pretrain", False))
            if manifest["counts"]["clips"].get(split)
        )
        + " of the dataset above.",
        "- Training wall time: "
        + (f"{seconds / 60:.1f} minutes" if seconds is not None else "not recorded")
        + f" on {machine()} (shared with other jobs).",
        f"- Tools: {', '.join(f'{k} {v}' for k, v in sorted(metadata['versions'].items()))}.",
        "",
        "Operative config:",
        "",
        "```",
        metadata.get("operative_config", "").strip(),
        "```",
        "",
        "## Test metrics",
        "",
        *_metric_lines(row, headline, report),
        "## Intended use and limits",
        "",
        "- Intended use: features for research on piano music from scores: similarity "
        "search, probes for composer or key, a front end for small classifiers.",
        f"- Trained only on piano renderings of {sum(manifest['counts']['pieces'].values())} "
        "scores of Western classical and early music with a General MIDI soundfont: no "
        "performance timing, no recording room, no other instruments. How it does on "
        "real recordings was **not measured**.",
        "- A short training run on a small corpus (see Recipe): the figures above are "
        "those of this build, not of the paper.",
        "- Files are checked against `saved_models/MANIFEST.json` when tfembed loads the "
        "model by name.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Writes the cards, then the manifest."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, type=Path, help="the build's work folder")
    parser.add_argument("--models", required=True, type=Path, help="saved_models/")
    parser.add_argument(
        "--eval", required=True, type=Path, help="tfembed-eval's --out (cards say if it is missing)"
    )
    parser.add_argument("names", nargs="+")
    args = parser.parse_args(argv)
    report_path = args.eval / "report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else None
    data_manifest = json.loads((args.work / "data" / "manifest.json").read_text())
    entries = {}
    for name in args.names:
        folder = args.models / name
        metadata = read_metadata(folder)
        seconds = training_seconds(args.work / name / "logs")
        text = card(
            name,
            metadata,
            data_manifest,
            report,
            seconds,
            (folder / TFLITE_NAME).is_file(),
        )
        write_bytes_atomically(folder / CARD_NAME, [text.encode()])
        metrics = report["metrics"].get(metadata["variant"], {}) if report else {}
        entries[name] = {
            "variant": metadata["variant"],
            "domain": metadata["domain"],
            "tensorflow": metadata["versions"].get(
                "tensorflow", metadata["versions"].get("tensorflow-cpu")
            ),
            "checkpoint_step": metadata["checkpoint_step"],
            "training_seconds": None if seconds is None else round(seconds, 1),
            "test": {metric: metrics[metric] for metric in HEADLINE_METRICS if metric in metrics},
            **model_entry_files(folder),
        }
    write_json_atomically(
        args.models / MANIFEST_NAME,
        {
            "format": 1,
            "written_by": "tools/release/build_models.sh",
            "data_created": data_manifest.get("created"),
            "total_size": sum(entry["size"] for entry in entries.values()),
            "models": entries,
        },
    )
    print(f"wrote {len(entries)} model cards and {args.models / MANIFEST_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
