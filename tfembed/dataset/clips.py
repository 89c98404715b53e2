"""Reading prepared datasets: the manifest and the clips of a split.

This module imports only TensorFlow, never note-seq, so training and evaluation
stay light.
"""

from __future__ import annotations

import os
from pathlib import Path

import tensorflow as tf

from tfembed.dataset.manifest import (
    MANIFEST_NAME,
    SPLITS,
    DatasetError,
    grid_of,
    read_manifest,
)
from tfembed.dataset.schema import parse_clip

__all__ = [
    "MANIFEST_NAME",
    "SPLITS",
    "DatasetError",
    "grid_of",
    "load_clips",
    "read_manifest",
    "shard_paths",
]


def shard_paths(data_dir: str | os.PathLike, split: str) -> list[str]:
    """Returns the shard files of ``split`` in order, as listed in the manifest."""
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    manifest = read_manifest(data_dir)
    shards = manifest["shards"].get(split, [])
    return [str(Path(data_dir) / shard["file"]) for shard in shards]


def load_clips(data_dir: str | os.PathLike, split: str) -> tf.data.Dataset:
    """Returns the clips of one split, in piece order then clip order.

    Args:
        data_dir: A folder written by ``tfembed-prepare``.
        split: ``train``, ``validation`` or ``test``.

    Returns:
        A dataset of dicts with ``mel`` and ``roll`` (float32 ``[clip_frames, 96]``),
        ``composer``, ``composer_name``, ``key_signature``, ``tempo``,
        ``tempo_explicit``, ``note_density``, ``piece_id``, ``clip_index``,
        ``start_time`` and ``split``. Unknown labels are ``-1``.
    """
    grid = grid_of(read_manifest(data_dir))
    paths = shard_paths(data_dir, split)
    records = tf.data.TFRecordDataset(tf.constant(paths, dtype=tf.string))
    return records.map(lambda record: parse_clip(record, grid), num_parallel_calls=tf.data.AUTOTUNE)
