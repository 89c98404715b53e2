"""TensorBoard extras: the embedding projector and example clip images."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tensorflow as tf

PROJECTOR_DIR = "projector"


def write_projector(log_dir: str | os.PathLike, embeddings: np.ndarray, labels: list[str]) -> Path:
    """Writes embeddings and their labels for TensorBoard's embedding projector.

    Args:
        log_dir: The run's TensorBoard folder.
        embeddings: ``[n, d]`` embeddings.
        labels: ``n`` labels (composer names), shown as the projector's metadata.

    Returns:
        The projector folder (``log_dir/projector``; point TensorBoard at ``log_dir``).
    """
    from tensorboard.plugins import projector

    folder = Path(log_dir) / PROJECTOR_DIR
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metadata.tsv").write_text("".join(f"{label}\n" for label in labels))
    checkpoint = tf.train.Checkpoint(embedding=tf.Variable(np.asarray(embeddings, np.float32)))
    checkpoint.save(str(folder / "embedding.ckpt"))
    config = projector.ProjectorConfig()
    entry = config.embeddings.add()
    entry.tensor_name = "embedding/.ATTRIBUTES/VARIABLE_VALUE"
    entry.metadata_path = "metadata.tsv"
    projector.visualize_embeddings(str(folder), config)
    return folder


def clip_images(clips: tf.Tensor) -> tf.Tensor:
    """Turns ``[n, frames, bins]`` clips into ``[n, bins, frames, 1]`` images in [0, 1].

    Time runs left to right and pitch or frequency bottom to top; each clip is
    scaled to its own minimum and maximum.
    """
    clips = tf.cast(clips, tf.float32)
    low = tf.reduce_min(clips, axis=[1, 2], keepdims=True)
    high = tf.reduce_max(clips, axis=[1, 2], keepdims=True)
    scaled = (clips - low) / tf.maximum(high - low, 1e-6)
    return tf.reverse(tf.transpose(scaled, [0, 2, 1]), axis=[1])[..., tf.newaxis]
