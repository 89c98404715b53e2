"""The clips of one split of a prepared dataset, as a ``tf.data.Dataset``.

This module imports only TensorFlow, never note-seq, so training and evaluation
stay light.
"""

from __future__ import annotations

import os

import tensorflow as tf

from tfembed.dataset.manifest import PreparedDataset, open_dataset
from tfembed.dataset.schema import parse_clip


def load_clips(
    data: str | os.PathLike | PreparedDataset, split: str, rendering: str | int = 0
) -> tf.data.Dataset:
    """Returns the clips of one split, in piece order then clip order.

    Args:
        data: A folder written by ``tfembed-prepare``, or the dataset opened with
            :func:`tfembed.dataset.manifest.open_dataset`.
        split: ``train``, ``validation`` or ``test``.
        rendering: The rendering ``mel`` holds, by name or position (0: the
            reference; see :attr:`PreparedDataset.renderings`).

    Returns:
        A dataset of dicts with ``mel`` and ``roll`` (float32 ``[clip_frames, 96]``),
        ``composer``, ``composer_name``, ``key_signature``, ``tempo``,
        ``tempo_explicit``, ``note_density``, ``piece_id``, ``clip_index``,
        ``start_time`` and ``split``. Unknown labels are ``-1``.
    """
    dataset = open_dataset(data)
    index = dataset.rendering_index(rendering)
    paths = dataset.shard_paths(split)
    records = tf.data.TFRecordDataset(tf.constant(paths, dtype=tf.string))
    return records.map(
        lambda record: parse_clip(record, dataset.grid, index), num_parallel_calls=tf.data.AUTOTUNE
    )
