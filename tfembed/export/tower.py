"""Exporting a trained tower as a SavedModel with explicit signatures and metadata.

Signatures (core TensorFlow ops only, so the export loads with plain
``tf.saved_model.load`` without tfembed or tensorflow-io):

* ``serve``: ``clips`` float32 ``[batch, frames, bins]`` -> float32 ``[batch, 128]``;
* ``embed_audio`` (mel towers only): ``audio`` float32 ``[samples]``, mono at the
  grid's sample rate (16 kHz), any level -> float32 ``[clips, 128]``: the audio
  is peak-normalised, its log-mel computed exactly as in preparation, and cut
  into consecutive 3-second windows, the last one padded with silence;
* ``audio_windows`` (mel towers only): ``audio`` and ``hop_frames`` (int32) ->
  ``embedding`` ``[windows, 128]``, ``start_frame`` ``[windows]`` and ``padded``
  ``[windows]``: the same with windows every ``hop_frames`` frames.

The SavedModel also holds ``sample_rate``, an int32 variable (16000): the rate
the audio signatures expect. They cannot tell the rate of what they are given,
so a plain TensorFlow user resamples first, e.g. with
``scipy.signal.resample_poly(audio, 16000 // g, rate // g)`` where
``g = math.gcd(16000, rate)`` (what ``tfembed.load(...).embed_audio`` does), or
``librosa.resample(audio, orig_sr=rate, target_sr=16000)``. Audio at 44.1 kHz
given as is would be read as 2.76 times longer and an octave and a half lower.

``metadata.json`` beside it records the domain, frame grid, settings, the data
it was trained on, the checkpoint step and tool versions. The export is
written to a temporary sibling folder and renamed into place, so a reader sees
a whole export or none.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from tfembed.errors import ExportError
from tfembed.export.format import METADATA_NAME, claim_out, without_machine_paths
from tfembed.export.tflite import TFLITE_NAME, write_tflite
from tfembed.features.framegrid import FrameGrid
from tfembed.features.frontend import normalized_log_mel
from tfembed.features.windows import embed_windows, window_layout
from tfembed.models.siamese import SiameseModel, variant_spec
from tfembed.training.config import TrainConfig
from tfembed.training.run_folder import RunFolder
from tfembed.training.trainer import build_model
from tfembed.utils.atomic import write_json_atomically
from tfembed.utils.versions import tool_versions

TOWERS = ("first", "second")


def load_trained(
    model_dir: str | os.PathLike, checkpoint: str = "best"
) -> tuple[SiameseModel, TrainConfig, FrameGrid, dict[str, Any], int]:
    """Rebuilds a run's siamese model from its ``run.json`` and a checkpoint.

    The caller's gin config is not touched: the run's settings are read from
    ``run.json``.

    Args:
        model_dir: The training run.
        checkpoint: ``best`` (lowest validation rank@100; the latest one when the
            run has no validation) or ``latest``.

    Returns:
        The model, its settings, the frame grid, the run record and the step.

    Raises:
        RunError: Not a run, or no checkpoint.
    """
    run = RunFolder.at(model_dir)
    record = run.read_record()
    config = TrainConfig.from_dict(record["config"])
    grid = FrameGrid.from_dict(record["dataset"]["frame_grid"])
    path = run.checkpoint_path(checkpoint)
    model = build_model(config, grid)
    step = tf.Variable(0, dtype=tf.int64)
    tf.train.Checkpoint(model=model, step=step).restore(path).expect_partial()
    return model, config, grid, record, int(step.numpy())


def _add_audio_endpoints(archive, network: keras.Model, grid: FrameGrid) -> None:
    embedding_size = int(network.output.shape[-1])

    def audio_windows(audio: tf.Tensor, hop_frames: tf.Tensor) -> dict[str, tf.Tensor]:
        frames = normalized_log_mel(audio, grid)
        starts, padded = window_layout(tf.shape(frames)[0], grid.clip_frames, hop_frames)
        embedding = embed_windows(
            lambda clips: network(clips, training=False),
            frames,
            starts,
            grid.clip_frames,
            grid.silence("mel"),
            embedding_size,
        )
        return {"embedding": embedding, "start_frame": starts, "padded": padded}

    audio_spec = tf.TensorSpec([None], tf.float32, name="audio")
    archive.add_endpoint(
        "audio_windows",
        audio_windows,
        input_signature=[audio_spec, tf.TensorSpec([], tf.int32, name="hop_frames")],
    )
    archive.add_endpoint(
        "embed_audio",
        lambda audio: audio_windows(audio, tf.constant(grid.clip_frames))["embedding"],
        input_signature=[audio_spec],
    )


def _replace_folder(written: Path, out: Path) -> None:
    """Moves a finished export onto ``out``, replacing an earlier export there."""
    if out.exists():
        previous = _sibling(out, "old")
        out.rename(previous)
        written.rename(out)
        shutil.rmtree(previous)
    else:
        written.rename(out)


def export_tower(
    model_dir: str | os.PathLike,
    out: str | os.PathLike,
    tower: str = "first",
    checkpoint: str = "best",
    tflite: bool = False,
) -> Path:
    """Exports the test-time tower (``first``) or the other one (``second``) of a run.

    Args:
        model_dir: The training run.
        out: SavedModel folder to write (new, empty, or an earlier export).
        tower: ``first`` (the test-time tower: mel for MEL_SYM, roll for SYM_MEL)
            or ``second``.
        checkpoint: ``best`` (lowest validation rank@100) or ``latest``.
        tflite: Also write ``model.tflite``, the TFLite conversion of ``serve``.

    Returns:
        The SavedModel folder.

    Raises:
        RunError: Not a run, or no checkpoint.
        ExportError: ``out`` cannot take the export.
    """
    if tower not in TOWERS:
        raise ExportError(f"tower must be 'first' or 'second', not {tower!r}")
    out = Path(out)
    claim_out(out)
    model, config, grid, record, step = load_trained(model_dir, checkpoint)
    if step == 0:
        print(
            f"tfembed-export: warning: {model_dir} was never trained (step 0); "
            "the export holds random weights",
            file=sys.stderr,
        )
    spec = variant_spec(config.variant)
    network = model.first_tower if tower == "first" else model.second_tower
    domain = spec.first if tower == "first" else spec.second
    archive = _archive(network, grid, domain)
    metadata = _metadata(RunFolder.at(model_dir), config, grid, record, step, checkpoint)
    metadata.update(
        domain=domain,
        tower=tower,
        embedding_size=int(network.output.shape[-1]),
        signatures=list(SIGNATURES[domain]),
    )
    _write_export(out, lambda staging: _write_files(archive, staging, metadata, tflite))
    return out


def _metadata(
    run: RunFolder,
    config: TrainConfig,
    grid: FrameGrid,
    record: dict[str, Any],
    step: int,
    checkpoint: str,
) -> dict[str, Any]:
    """What ``metadata.json`` records of the run (no path of the machine that built it)."""
    return without_machine_paths(
        {
            "variant": config.variant,
            "sample_rate": grid.sample_rate,
            "frame_grid": grid.to_dict(),
            "train_config": config.to_dict(),
            "operative_config": run.operative_config.read_text()
            if run.operative_config.is_file()
            else "",
            "model_dir": str(run.path.resolve()),
            "checkpoint": checkpoint,
            "checkpoint_step": step,
            "dataset": record["dataset"],
            "versions": tool_versions(),
        }
    )


SIGNATURES = {"mel": ("serve", "embed_audio", "audio_windows"), "roll": ("serve",)}
"""The signatures of an export, by domain."""


def _archive(network: keras.Model, grid: FrameGrid, domain: str) -> keras.export.ExportArchive:
    """The tower with its signatures (``serve``; for mel towers the audio ones too)."""
    archive = keras.export.ExportArchive()
    archive.track(network)
    clip_spec = tf.TensorSpec([None, *grid.clip_shape(domain)], tf.float32, name="clips")
    archive.add_endpoint(
        "serve", lambda clips: network(clips, training=False), input_signature=[clip_spec]
    )
    if domain == "mel":
        _add_audio_endpoints(archive, network, grid)
    return archive


def _write_files(
    archive: keras.export.ExportArchive, folder: Path, metadata: dict[str, Any], tflite: bool
) -> None:
    """Writes the SavedModel with its ``sample_rate``, ``model.tflite`` if asked, the metadata."""
    written = _sibling(folder, "keras")
    try:
        archive.write_out(str(written), verbose=False)
        add_sample_rate(written, folder, metadata["sample_rate"])
    finally:
        if written.exists():
            shutil.rmtree(written)
    if tflite:
        write_tflite(folder, folder / TFLITE_NAME)
    write_json_atomically(folder / METADATA_NAME, metadata)


def add_sample_rate(source: str | os.PathLike, out: str | os.PathLike, sample_rate: int) -> None:
    """Saves the SavedModel ``source`` again as ``out`` with a ``sample_rate`` attribute.

    ``tf.saved_model.load(out).sample_rate`` is then an int32 variable holding
    the rate in Hz that the audio signatures expect, readable by any TensorFlow
    program. Signatures, functions and weights are those of ``source``: the
    outputs are the same bit for bit.
    """
    loaded = tf.saved_model.load(str(source))
    loaded.sample_rate = tf.Variable(
        int(sample_rate), trainable=False, dtype=tf.int32, name="sample_rate"
    )
    tf.saved_model.save(loaded, str(out), signatures=dict(loaded.signatures))


def _write_export(out: Path, write: Callable[[Path], None]) -> None:
    """Has ``write`` fill a staged folder beside ``out``, then puts it in place of ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = _sibling(out, "tmp")
    staging.mkdir(mode=0o777)  # the mode less the umask, like any folder a user makes
    try:
        write(staging)
        _replace_folder(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _sibling(out: Path, kind: str) -> Path:
    """An unused hidden path beside ``out`` for a staged or a replaced export."""
    return out.parent / f".{out.name}.{kind}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
