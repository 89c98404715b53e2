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
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from tfembed.errors import ExportError
from tfembed.export.format import METADATA_NAME, is_export
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


def _claim_out(out: Path) -> None:
    """Refuses an ``--out`` that holds anything but an earlier export."""
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out {out} is a file; choose a folder for the SavedModel")
    if out.is_dir() and any(out.iterdir()) and not is_export(out):
        raise ExportError(
            f"--out {out} is not empty and holds no earlier tfembed export; "
            "choose a new or empty folder"
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
    _claim_out(out)
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

    archive = keras.export.ExportArchive()
    archive.track(network)
    clip_spec = tf.TensorSpec([None, *grid.clip_shape(domain)], tf.float32, name="clips")
    archive.add_endpoint(
        "serve", lambda clips: network(clips, training=False), input_signature=[clip_spec]
    )
    if domain == "mel":
        _add_audio_endpoints(archive, network, grid)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = _sibling(out, "tmp")
    staging.mkdir(mode=0o777)  # the mode less the umask, like any folder a user makes
    try:
        archive.write_out(str(staging), verbose=False)
        if tflite:
            write_tflite(staging, staging / TFLITE_NAME)
        run = RunFolder.at(model_dir)
        write_json_atomically(
            staging / METADATA_NAME,
            {
                "domain": domain,
                "variant": config.variant,
                "tower": tower,
                "embedding_size": int(network.output.shape[-1]),
                "signatures": ["serve", "embed_audio", "audio_windows"]
                if domain == "mel"
                else ["serve"],
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
            },
        )
        _replace_folder(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return out


def _sibling(out: Path, kind: str) -> Path:
    """An unused hidden path beside ``out`` for a staged or a replaced export."""
    return out.parent / f".{out.name}.{kind}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
