"""Reading prepared datasets: the manifest and the clips of a split.

This module imports only TensorFlow, never note-seq, so training and evaluation
stay light.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import tensorflow as tf

from tfembed.framegrid import FrameGrid
from tfembed.records import parse_clip

MANIFEST_NAME = "manifest.json"
SPLITS = ("train", "validation", "test")


class DatasetError(RuntimeError):
    """A prepared dataset is missing, incomplete or does not match a request."""


def read_manifest(data_dir: str | os.PathLike) -> dict[str, Any]:
    """Reads ``manifest.json`` of a prepared dataset.

    Raises:
        DatasetError: If the folder has no manifest (preparation never finished).
    """
    path = Path(data_dir) / MANIFEST_NAME
    if not path.is_file():
        raise DatasetError(
            f"{path} not found: {data_dir} is not a finished tfembed dataset "
            "(run tfembed-prepare, or rerun it to finish an interrupted preparation)"
        )
    return json.loads(path.read_text())


def grid_of(manifest: dict[str, Any]) -> FrameGrid:
    """Returns the frame grid a dataset was prepared with."""
    return FrameGrid.from_dict(manifest["frame_grid"])


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
