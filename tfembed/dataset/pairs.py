"""Neighbour pairs (clip i, clip i + 1 of one piece) streamed from prepared shards.

Nothing is duplicated on disk: each shard is read once, in order, and a ``scan``
keeps the previous clip, so every record is parsed once and a pair is emitted when
the previous clip is the same piece's clip ``i - 1``. Shards are interleaved,
pairs shuffled, batched with a fixed size and prefetched.
"""

from __future__ import annotations

import os

import tensorflow as tf

from tfembed.dataset.clips import grid_of, read_manifest, shard_paths
from tfembed.dataset.schema import parse_clip

DOMAINS = ("mel", "roll")


def _pairs_of_shard(path: tf.Tensor, grid, left: str, right: str) -> tf.data.Dataset:
    clips = tf.data.TFRecordDataset(path).map(lambda record: parse_clip(record, grid))
    empty = tf.zeros([grid.clip_frames, grid.n_mels], tf.float32)
    initial = (tf.constant(""), tf.constant(-2, tf.int64), empty, empty)

    def step(previous, clip):
        piece, index, previous_mel, previous_roll = previous
        is_pair = tf.logical_and(
            tf.equal(piece, clip["piece_id"]), tf.equal(index + 1, clip["clip_index"])
        )
        earlier = {"mel": previous_mel, "roll": previous_roll}
        output = (is_pair, earlier[left], clip[right])
        return (clip["piece_id"], clip["clip_index"], clip["mel"], clip["roll"]), output

    pairs = clips.scan(initial, step)
    return pairs.filter(lambda is_pair, first, second: is_pair).map(
        lambda is_pair, first, second: (first, second)
    )


def neighbour_pairs(
    data_dir: str | os.PathLike,
    split: str,
    left: str,
    right: str,
    batch_size: int,
    shuffle_buffer: int = 2048,
    repeat: bool = True,
    seed: int | None = None,
    spec_augment: bool = False,
    drop_remainder: bool = True,
) -> tf.data.Dataset:
    """Batches of neighbour pairs ``(left domain of clip i, right domain of clip i + 1)``.

    Args:
        data_dir: A prepared dataset.
        split: ``train``, ``validation`` or ``test``.
        left: Domain of the first clip, ``"mel"`` or ``"roll"``.
        right: Domain of its neighbour.
        batch_size: Pairs per batch.
        shuffle_buffer: Pairs in the shuffle buffer (0 keeps file order).
        repeat: Loop over the split forever (training) or once (evaluation).
        seed: Seed of the shuffle and the shard order.
        spec_augment: Mask a random band and span of every mel clip
            (:func:`tfembed.augment.mask_mel`); roll clips are left as they are.
        drop_remainder: Drop the last partial batch (training keeps every batch
            the same size).

    Returns:
        A dataset of ``(first, second)`` float32 ``[batch, frames, 96]`` tensors.
    """
    for domain in (left, right):
        if domain not in DOMAINS:
            raise ValueError(f"unknown domain {domain!r}; expected one of {DOMAINS}")
    grid = grid_of(read_manifest(data_dir))
    paths = shard_paths(data_dir, split)
    files = tf.data.Dataset.from_tensor_slices(tf.constant(paths, tf.string))
    if shuffle_buffer:
        files = files.shuffle(len(paths), seed=seed)
    if repeat:
        files = files.repeat()
    pairs = files.interleave(
        lambda path: _pairs_of_shard(path, grid, left, right),
        cycle_length=min(len(paths), 8),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=not shuffle_buffer,
    )
    if shuffle_buffer:
        pairs = pairs.shuffle(shuffle_buffer, seed=seed)
    if spec_augment:
        from tfembed.dataset.augment import mask_mel

        def augment(first, second):
            return (
                mask_mel(first) if left == "mel" else first,
                mask_mel(second) if right == "mel" else second,
            )

        pairs = pairs.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    return pairs.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
