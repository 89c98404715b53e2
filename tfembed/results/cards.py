"""The shipped models' ``MODEL_CARD.md`` and ``saved_models/MANIFEST.json``.

A card is written from three things only: the export's ``metadata.json``, the
summary of its training data (``docs/results/shipped_training.json``) and the
summary of the evaluation of the four shipped models
(``docs/results/shipped_models.json``). The manifest is then written from the
files on disk (every file's sha256 and size) and the same evaluation summary.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tfembed.evaluation.report import format_value
from tfembed.export.format import export_domains, read_metadata, serve_signature
from tfembed.export.registry import MANIFEST_NAME, model_entry_files
from tfembed.export.tflite import TFLITE_NAME
from tfembed.results.tables import evaluation_section, headline, provenance_text
from tfembed.training.config import TrainConfig
from tfembed.utils.atomic import write_json_atomically

CARD_NAME = "MODEL_CARD.md"
HEADLINE_METRICS = ("rank_am", "rank_gm", "composer_micro_f1", "key_micro_f1", "mrr")
"""The test figures ``MANIFEST.json`` repeats for each model."""


def training_data(manifest: dict[str, Any], origin: dict[str, Any]) -> dict[str, Any]:
    """The summary of a build's training data, from its dataset's ``manifest.json``.

    Args:
        manifest: The prepared dataset's manifest.
        origin: Provenance of the preparation (see :func:`tfembed.results.summary.provenance`).
    """
    counts = manifest["counts"]
    return {
        "provenance": origin,
        "source": {
            key: value
            for key, value in manifest.get("source", {}).items()
            if key in ("kind", "pieces_per_composer", "pretrain_pieces_per_composer")
        },
        "composers": manifest["vocabularies"]["composer"],
        "splits": {
            split: {
                "pieces": counts["pieces"][split],
                "clips": counts["clips"].get(split, 0),
                "hours": round(counts["seconds"].get(split, 0) / 3600, 2),
            }
            for split in counts["pieces"]
        },
        "created": manifest.get("created"),
        "failures": len(manifest.get("failures", [])),
        **(
            {"renderings": [rendering["name"] for rendering in manifest["renderings"]]}
            if len(manifest.get("renderings", ())) > 1
            else {}
        ),
    }


def _data_lines(data: dict[str, Any]) -> list[str]:
    source, splits = data["source"], data["splits"]
    corpus = f"- Corpus: `{source.get('kind', '?')}`"
    renderings = data.get("renderings", [])
    if source.get("kind") == "music21":
        corpus += (
            f" (the score corpus embedded in music21, {source['pieces_per_composer']} pieces "
            "per composer at most), rendered to audio with "
            + (
                f"{len(renderings)} renderings by General MIDI soundfonts ({', '.join(renderings)};"
                " SOUNDFONT+as_written: the parts played as written)"
                if renderings
                else "a General MIDI piano soundfont"
            )
        )
    lines = [
        corpus + f"; {len(data['composers'])} composers: {', '.join(data['composers'])}.",
        f"- {sum(s['pieces'] for s in splits.values())} pieces, "
        f"{sum(s['hours'] for s in splits.values()):.2f} hours, "
        f"{sum(s['clips'] for s in splits.values())} clips; per split: "
        + ", ".join(
            f"{name} {s['pieces']} pieces / {s['clips']} clips / {s['hours']:.2f} h"
            for name, s in splits.items()
        )
        + ".",
        "- Splits by work, stratified by composer (`tfembed/preparation/splits.py`).",
    ]
    if source.get("pretrain_pieces_per_composer"):
        lines.append(
            f"- The pretrain split holds up to {source['pretrain_pieces_per_composer']} more "
            "scores per composer, of works in no other split: training may read it, no "
            "evaluation does."
        )
    lines.append(
        f"- Dataset created {data['created']}; {data['failures']} files could not be prepared "
        "and were left out."
    )
    return lines


def _checkpoint_text(metadata: dict[str, Any]) -> str:
    """Which checkpoint the export holds: one, at its step, or the mean of several."""
    averaged = metadata.get("averaged_checkpoints")
    if averaged:
        return f"the mean of the checkpoints {', '.join(f'`{name}`' for name in averaged)}"
    return f"checkpoint `{metadata['checkpoint']}` at step {metadata['checkpoint_step']}"


def feature_run_recipe(run: dict[str, Any]) -> str:
    """A feature run's steps, and the settings that decide what its tower hears past.

    Args:
        run: An entry of a joint export's ``feature_runs`` metadata.
    """
    config = run["train_config"]
    settings = [f"{config['steps']:,} steps"]
    if config.get("synth_instruments"):
        settings.append(f"synthetic instruments on {config['synth_instruments']:.0%} of its clips")
    if config.get("variant") == "MEL_MEL" and not config.get("feature_workers"):
        settings.append("no feature workers")
    return ", ".join(settings)


def _features_text(metadata: dict[str, Any], domain: str) -> str:
    """Where a joint export's features of ``domain`` come from."""
    run = metadata.get("feature_runs", {}).get(domain)
    if run:
        return (
            f"the tower of a {run['variant']} run trained beside the joint one "
            f"(`{run['run_name']}`, {feature_run_recipe(run)}; checkpoint "
            f"`{run['checkpoint']}` at step {run['checkpoint_step']})"
        )
    settings = metadata.get("train_config", {})
    if settings.get("joint_own_head"):
        return "the output of its own-domain head (`train.joint_own_head`)"
    if settings.get("joint_shared_head"):
        return "the tower's own output, before its shared-space head"
    return f"the tower's output, as `{serve_signature(domain, joint=True)}`"


def _io_lines(metadata: dict[str, Any], has_tflite: bool) -> list[str]:
    grid, size = metadata["frame_grid"], metadata["embedding_size"]
    domains = export_domains(metadata)
    joint = len(domains) > 1
    served = [serve_signature(domain, joint) for domain in domains]
    lines = [
        f"- `{name}`: `clips` float32 `[batch, {grid['clip_frames']}, "
        f"{grid['n_mels'] if domain == 'mel' else grid['n_pitches']}]` -> float32 "
        f"`[batch, {size}]`" + (f" ({domain} clips, into one space)." if joint else ".")
        for name, domain in zip(served, domains, strict=True)
    ]
    lines += [
        f"- `{name}`: `clips` of the {domain} tower -> `[batch, {size}]`, "
        f"{_features_text(metadata, domain)}: "
        "the features for tasks within one domain (probes, neighbours); the other signatures "
        "embed into the shared space."
        for domain, name in metadata.get("feature_signatures", {}).items()
    ]
    if "mel" in domains:
        lines += [
            f"- `embed_audio`: `audio` float32 `[samples]`, mono at {grid['sample_rate']} Hz, "
            f"any level (peak-normalised inside) -> `[clips, {size}]`, one row per consecutive "
            "3-second window (the last padded with silence). Resample other rates to "
            f"{grid['sample_rate']} Hz first (`tfembed.load(...).embed_audio` does).",
            "- `audio_windows`: `audio` and `hop_frames` (int32) -> `embedding`, "
            "`start_frame`, `padded`.",
            f"- Clips are natural-log mel power (+{grid['log_offset']}), {grid['n_mels']} bands "
            f"{grid['fmin']}-{grid['fmax']} Hz, FFT {grid['fft_length']}, hop "
            f"{grid['hop_length']} samples, peak-normalised audio, exactly as "
            "`tfembed/features/frontend.py` computes them.",
        ]
    if "roll" in domains:
        if joint:
            lines += [
                f"- `embed_roll`: `roll` float32 `[frames, {grid['n_pitches']}]`, a whole piano "
                f"roll on the frame grid -> `[clips, {size}]`, one row per consecutive "
                "3-second window (the last padded with silence); `tfembed.load(...).embed_midi` "
                "embeds a MIDI file's roll this way.",
                "- `roll_windows`: `roll` and `hop_frames` (int32) -> `embedding`, "
                "`start_frame`, `padded`.",
            ]
        lines.append(
            f"- {'Roll clips' if joint else 'Clips'} are piano rolls: {grid['n_pitches']} "
            f"pitches from MIDI {grid['lowest_pitch']}, 1 where a note sounds and 0 elsewhere, "
            "on the same frame grid."
        )
    if has_tflite:
        converted = " and ".join(f"`{name}`" for name in served)
        lines.append(
            f"- `{TFLITE_NAME}`: TFLite conversion of {converted} (builtin ops), tested equal to "
            f"{converted} within 1e-4 on real clips."
        )
    return [*lines, f"- Frame grid: `{json.dumps(grid, sort_keys=True)}`."]


def _rows(metadata: dict[str, Any]) -> list[str]:
    """The report rows of a model: its variant, or one per tower of a joint export."""
    domains = export_domains(metadata)
    if len(domains) == 1:
        return [metadata["variant"]]
    return [f"{metadata['variant']} ({domain})" for domain in domains]


def _metrics_line(metadata: dict[str, Any], evaluation: dict[str, Any]) -> str:
    """Which rows of the evaluation are this model's, with their headline figures."""
    rows = _rows(metadata)
    if len(rows) == 1:
        return f"This model is the row {rows[0]}: {headline(evaluation, rows[0])}."
    metrics = evaluation["report"]["metrics"]
    found = [f"{row}: {headline(evaluation, row)}" for row in rows if row in metrics]
    if not found:
        return f"Its towers make the rows {' and '.join(rows)}, not in this evaluation."
    return f"Its towers make the rows {'; '.join(found)}."


def card(
    name: str,
    metadata: dict[str, Any],
    data: dict[str, Any],
    evaluation: dict[str, Any],
    has_tflite: bool,
    crossmodal: dict[str, Any] | None = None,
    own: bool = False,
    robustness: dict[str, Any] | None = None,
) -> str:
    """The model card of one shipped model, as Markdown.

    Args:
        name: The model's folder name (``mel_mel``, ...).
        metadata: Its ``metadata.json``.
        data: :func:`training_data` of the build's dataset.
        evaluation: The evaluation summary of the shipped models (or of this one).
        has_tflite: Whether the folder holds ``model.tflite``.
        crossmodal: A joint model's cross-modal evaluation
            (:func:`crossmodal_summary`), if any.
        own: Whether ``data`` and ``evaluation`` are this model's own results
            (``docs/results/model_NAME.json``) rather than the four's.
        robustness: Its mel tower's figures on other renderings
            (:func:`robustness_lines`), if any.
    """
    config = metadata["train_config"]
    row = metadata["variant"]
    domains = export_domains(metadata)
    towers = (
        f"both towers ({' and '.join(domains)})"
        if len(domains) > 1
        else f"{metadata['tower']} tower ({metadata['domain']})"
    )
    read = TrainConfig.splits_read(config.get("pretrain", False))
    pieces = sum(split["pieces"] for split in data["splits"].values())
    lines = [
        f"# {name}: tfembed {row}, {towers}",
        "",
        "Self-supervised embeddings of 3-second clips of piano music, trained so that "
        "neighbouring clips of one piece embed close together (siamese convnets, rank "
        "loss). Written by `tools/release/results_tables.py` from this model's "
        "`metadata.json` and "
        + (
            f"`docs/results/model_{name}.json`."
            if own
            else "`docs/results/shipped_training.json` and `docs/results/shipped_models.json`."
        ),
        "",
        "## Input and output",
        "",
        *_io_lines(metadata, has_tflite),
        "",
        "## Training data",
        "",
        *_data_lines(data),
        "",
        "## Recipe",
        "",
        f"- `configs/{name}.gin` with `train.steps = {config['steps']}`, seed {config['seed']}; "
        f"{_checkpoint_text(metadata)}.",
        "- Trained on the splits "
        + " and ".join(split for split in read if data["splits"].get(split, {}).get("clips"))
        + " of the dataset above.",
        "- " + provenance_text(data["provenance"], "Built"),
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
        _metrics_line(metadata, evaluation),
        "",
        evaluation_section(evaluation, "###").rstrip(),
        "",
        *robustness_lines(robustness),
        *crossmodal_lines(crossmodal),
        "## Intended use and limits",
        "",
        "- Intended use: features for research on piano music from scores: similarity "
        "search, probes for composer or key, a front end for small classifiers"
        + (
            "; finding a recording's MIDI file and offset (`tfembed-search`)."
            if crossmodal
            else "."
        ),
        _sound_limits(config, pieces, data.get("renderings", [])),
        "- A short training run on a small corpus (see Recipe): the figures above are "
        "those of this model, not of the paper.",
        "- Files are checked against `saved_models/MANIFEST.json` when tfembed loads the "
        "model by name.",
        "",
    ]
    return "\n".join(lines)


def _sound_limits(config: dict[str, Any], pieces: int, renderings: list[str]) -> str:
    """What the model heard in training, and what of real recordings was measured."""
    trained = list(config.get("renderings") or renderings[:1])
    if not trained:
        return (
            f"- Trained only on piano renderings of {pieces} scores of Western classical and "
            "early music with a General MIDI soundfont: no performance timing, no recording "
            "room, no other instruments. How it does on real recordings was **not measured**."
        )
    held_out = [name for name in renderings if name not in trained]
    conditions = (
        ", each clip under drawn recording conditions (gain, EQ, low-pass, noise, reverb)"
        if config.get("timbre_augment")
        else ""
    )
    # A rendering named SOUNDFONT+CHOICE plays the parts as written (tfembed-prepare --instruments).
    written = [name for name in trained if "+as_written" in name]
    if not written:
        heard, missing = "piano renderings", "no other instruments"
    else:
        heard = "renderings, the piano's and each part's own General MIDI program (`+as_written`),"
        drums = any(name.endswith("_with_drums") for name in written)
        missing = "no singers or acoustic recordings" if drums else "no drums"
    return (
        f"- Trained on {heard} of {pieces} scores of Western classical and early "
        f"music with the soundfonts {', '.join(trained)}{conditions}; "
        + (f"{', '.join(held_out)} never heard in training (scored above). " if held_out else "")
        + f"No performance timing, {missing}; how it does on real recordings "
        "was **not measured**."
    )


def crossmodal_summary(
    result: dict[str, Any], title: str, data: str, origin: dict[str, Any]
) -> dict[str, Any]:
    """The committed summary of a cross-modal report (``crossmodal.json``), no local path."""
    return {"title": title, "provenance": origin, "result": {**result, "data": data}}


def _titled_lines(summary: dict[str, Any], body: list[str]) -> list[str]:
    """A section of a committed summary: its title, its provenance, then ``body``."""
    return [
        f"## {summary['title']}",
        "",
        provenance_text(summary["provenance"]),
        "",
        *(f"#{line}" if line.startswith("## ") else line for line in body),
        "",
    ]


def crossmodal_lines(crossmodal: dict[str, Any] | None) -> list[str]:
    """A card's section of a joint model's cross-modal figures (none without them)."""
    if crossmodal is None:
        return []
    from tfembed.evaluation.crossmodal import crossmodal_markdown

    return _titled_lines(crossmodal, crossmodal_markdown(crossmodal["result"]).splitlines()[2:])


def robustness_lines(robustness: dict[str, Any] | None) -> list[str]:
    """A card's section of a model's figures on other renderings (none without them).

    Args:
        robustness: ``{"title", "provenance", "result"}``, ``result`` a
            ``robustness.json`` of ``tfembed-eval --renderings``.
    """
    if robustness is None:
        return []
    from tfembed.evaluation.robustness import robustness_markdown

    return _titled_lines(robustness, robustness_markdown(robustness["result"]).splitlines())


CROSSMODAL_SHORT_COLUMNS = (
    ("audio -> MIDI R@1", "audio_to_roll_recall_at_1"),
    ("MIDI -> audio R@1", "roll_to_audio_recall_at_1"),
    ("piece top-1 from 30 s", "piece_top1"),
    ("alignment error (s)", "alignment_median_error_s"),
)
"""The columns of a joint model's short table (:func:`crossmodal_short_table`)."""


def crossmodal_short_table(
    crossmodal: dict[str, Any], model: str, trained: list[str] | tuple[str, ...]
) -> str:
    """One joint model's cross-modal figures, a row per rendering of the audio.

    Args:
        crossmodal: The committed summary of its cross-modal report
            (:func:`crossmodal_summary`).
        model: Its row in the report.
        trained: The renderings it was trained on; the others are marked as
            never heard in training.

    Returns:
        The table, then a sentence on the best baseline's audio -> MIDI R@1.
    """
    result = crossmodal["result"]
    columns = CROSSMODAL_SHORT_COLUMNS
    lines = [
        "| audio rendered with | " + " | ".join(header for header, _ in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for rendering in result["renderings"]:
        metrics = result["results"][rendering]["metrics"][model]
        heard = "trained on" if rendering in trained else "never heard in training"
        cells = [format_value(metric, metrics.get(metric)) for _, metric in columns]
        lines.append(f"| `{rendering}` ({heard}) | " + " | ".join(cells) + " |")
    baselines = [row["name"] for row in result["rows"] if row["kind"] != "model"]
    if baselines:
        best = max(
            section["metrics"][name]["audio_to_roll_recall_at_1"]["mean"]
            for section in result["results"].values()
            for name in baselines
        )
        named = ", ".join(baselines)
        lines += ["", f"Its baselines ({named}) reach at most {best:.3f} audio -> MIDI R@1."]
    return "\n".join(lines) + "\n"


def cards(
    models: str | os.PathLike,
    data: dict[str, Any],
    evaluation: dict[str, Any],
    own: dict[str, dict[str, Any]] | None = None,
) -> dict[Path, str]:
    """The card of every model folder under ``models`` (path -> text).

    Args:
        models: The folder of the shipped models.
        data: :func:`training_data` of the build of the four.
        evaluation: The evaluation summary of the four.
        own: Per model name, its own results (``training``, ``evaluation`` and
            ``crossmodal``) where it was built on other data than the four.
    """
    own = own or {}
    texts = {}
    for folder in sorted(path.parent for path in Path(models).glob("*/metadata.json")):
        results = own.get(folder.name, {})
        texts[folder / CARD_NAME] = card(
            folder.name,
            read_metadata(folder),
            results.get("training", data),
            results.get("evaluation", evaluation),
            (folder / TFLITE_NAME).is_file(),
            results.get("crossmodal"),
            own=folder.name in own,
            robustness=results.get("robustness"),
        )
    return texts


def _test_figures(metadata: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
    """The headline test figures of a model's row (of each tower's, by domain, if joint)."""

    def figures(row: str) -> dict[str, Any]:
        found = metrics.get(row, {})
        return {metric: found[metric] for metric in HEADLINE_METRICS if metric in found}

    rows = _rows(metadata)
    if len(rows) == 1:
        return figures(rows[0])
    return dict(zip(export_domains(metadata), map(figures, rows), strict=True))


def write_manifest(
    models: str | os.PathLike,
    evaluation: dict[str, Any],
    own: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """Writes ``MANIFEST.json`` from the files on disk and the evaluation summaries.

    Run after the cards are written: the manifest holds their sha256 too. A model
    with its own results (see :func:`cards`) takes its figures from its own evaluation.
    """
    models = Path(models)
    own = own or {}
    entries = {}
    for folder in sorted(path.parent for path in models.glob("*/metadata.json")):
        metadata = read_metadata(folder)
        metrics = own.get(folder.name, {}).get("evaluation", evaluation)["report"]["metrics"]
        versions = metadata["versions"]
        domains = export_domains(metadata)
        entries[folder.name] = {
            "variant": metadata["variant"],
            "domain": metadata["domain"],
            **({"domains": list(domains)} if len(domains) > 1 else {}),
            "tensorflow": versions.get("tensorflow", versions.get("tensorflow-cpu")),
            "checkpoint_step": metadata["checkpoint_step"],
            "test": _test_figures(metadata, metrics),
            **model_entry_files(folder),
        }
    path = models / MANIFEST_NAME
    write_json_atomically(
        path,
        {
            "format": 1,
            "written_by": "tools/release/results_tables.py",
            "evaluated": evaluation["provenance"]["date"],
            "total_size": sum(entry["size"] for entry in entries.values()),
            "models": entries,
        },
    )
    return path
