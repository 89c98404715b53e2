"""Exporting a trained tower as a SavedModel with explicit signatures and metadata.

Signatures (core TensorFlow ops only, so the export loads with plain
``tf.saved_model.load`` without tfembed or tensorflow-io):

* ``serve``: ``clips`` float32 ``[batch, frames, 96]`` -> float32 ``[batch, 128]``;
* ``embed_audio`` (mel towers only): ``audio`` float32 ``[samples]``, mono at the
  grid's sample rate (16 kHz) -> float32 ``[clips, 128]``, one embedding per
  consecutive 3-second clip, the log-mel computed in the graph exactly as in
  preparation.

``metadata.json`` beside it records the domain, frame grid, operative config, the
data manifest it was trained on, the checkpoint step and tool versions.
"""

from __future__ import annotations

import json
import os
import platform
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

import gin
import keras
import tensorflow as tf

from tfembed.atomic import write_json_atomically
from tfembed.features.framegrid import FrameGrid
from tfembed.features.frontend import log_mel
from tfembed.models.siamese import VARIANTS, build_siamese
from tfembed.training.train import BEST_DIR, OPERATIVE_CONFIG_NAME

METADATA_NAME = "metadata.json"


CHECKPOINTS = ("best", "latest")


def load_trained(
    model_dir: str | os.PathLike, checkpoint: str = "best"
) -> tuple[Any, dict[str, Any], int]:
    """Rebuilds a run's siamese model from its operative config and a checkpoint.

    Args:
        model_dir: The training run.
        checkpoint: ``best`` (lowest validation rank@100; the latest one when the
            run has no validation) or ``latest``.

    Returns:
        The model, the run's ``train`` bindings and the checkpoint step.
    """
    if checkpoint not in CHECKPOINTS:
        raise ValueError(f"checkpoint must be 'best' or 'latest', not {checkpoint!r}")
    model_dir = Path(model_dir)
    checkpoint_path = tf.train.latest_checkpoint(str(model_dir / "checkpoints"))
    if checkpoint == "best":
        checkpoint_path = tf.train.latest_checkpoint(str(model_dir / BEST_DIR)) or checkpoint_path
    if checkpoint_path is None:
        raise FileNotFoundError(f"{model_dir} has no checkpoint (train it with tfembed-train)")
    with gin.unlock_config():
        gin.clear_config()
        gin.parse_config_file(str(model_dir / OPERATIVE_CONFIG_NAME))
        bindings = {
            name: gin.query_parameter(f"train.{name}")
            for name in ("variant", "widths", "num_candidates", "smoothing")
        }
        gin.clear_config()
    model = build_siamese(
        bindings["variant"],
        widths=tuple(bindings["widths"]),
        num_candidates=bindings["num_candidates"],
        smoothing=bindings["smoothing"],
    )
    step = tf.Variable(0, dtype=tf.int64)
    tf.train.Checkpoint(model=model, step=step).restore(checkpoint_path).expect_partial()
    return model, bindings, int(step.numpy())


def export_tower(
    model_dir: str | os.PathLike,
    out: str | os.PathLike,
    data_dir: str | None,
    grid: FrameGrid,
    tower: str = "first",
    checkpoint: str = "best",
) -> Path:
    """Exports the test-time tower (``first``) or the other one (``second``) of a run.

    Args:
        model_dir: The training run.
        out: SavedModel folder to write.
        data_dir: The dataset it was trained on (recorded in the metadata).
        grid: The frame grid of that dataset.
        tower: ``first`` (the test-time tower: mel for MEL_SYM, roll for SYM_MEL)
            or ``second``.
        checkpoint: ``best`` (lowest validation rank@100) or ``latest``.

    Returns:
        The SavedModel folder.
    """
    model, bindings, step = load_trained(model_dir, checkpoint)
    spec = VARIANTS[bindings["variant"]]
    if tower not in ("first", "second"):
        raise ValueError(f"tower must be 'first' or 'second', not {tower!r}")
    network = model.first_tower if tower == "first" else model.second_tower
    domain = spec.first if tower == "first" else spec.second

    archive = keras.export.ExportArchive()
    archive.track(network)
    clip_spec = tf.TensorSpec([None, grid.clip_frames, grid.n_mels], tf.float32, name="clips")
    archive.add_endpoint(
        "serve", lambda clips: network(clips, training=False), input_signature=[clip_spec]
    )
    if domain == "mel":

        def embed_audio(audio: tf.Tensor) -> tf.Tensor:
            mel = log_mel(audio, grid)
            count = tf.shape(mel)[0] // grid.clip_frames
            clips = tf.reshape(
                mel[: count * grid.clip_frames], [count, grid.clip_frames, grid.n_mels]
            )
            return network(clips, training=False)

        archive.add_endpoint(
            "embed_audio",
            embed_audio,
            input_signature=[tf.TensorSpec([None], tf.float32, name="audio")],
        )
    out = Path(out)
    archive.write_out(str(out), verbose=False)
    versions = {"python": platform.python_version()}
    for name in ("tfembed", "tensorflow", "tensorflow-cpu", "keras"):
        try:
            versions[name] = package_metadata.version(name)
        except package_metadata.PackageNotFoundError:
            continue
    manifest = Path(data_dir) / "manifest.json" if data_dir else None
    write_json_atomically(
        out / METADATA_NAME,
        {
            "domain": domain,
            "variant": bindings["variant"],
            "tower": tower,
            "embedding_size": int(network.output.shape[-1]),
            "signatures": ["serve", "embed_audio"] if domain == "mel" else ["serve"],
            "frame_grid": grid.to_dict(),
            "train_bindings": {
                key: list(value) if isinstance(value, tuple) else value
                for key, value in bindings.items()
            },
            "operative_config": (Path(model_dir) / OPERATIVE_CONFIG_NAME).read_text(),
            "model_dir": str(Path(model_dir).resolve()),
            "checkpoint": checkpoint,
            "checkpoint_step": step,
            "data_manifest": str(manifest.resolve()) if manifest else None,
            "data_created": json.loads(manifest.read_text()).get("created") if manifest else None,
            "versions": versions,
        },
    )
    return out
