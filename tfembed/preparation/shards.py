"""Merging finished pieces into sharded TFRecord files."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tfembed.utils.atomic import write_bytes_atomically

SHARD_TARGET_CLIPS = 1000
"""Clips aimed at per shard; more shards let training interleave reads."""

_CHUNK_BYTES = 1 << 20


def plan_shards(pieces: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Groups the pieces of one split into shards of whole pieces.

    Args:
        pieces: Summaries of finished pieces (with ``piece_id`` and ``clips``),
            all of one split.

    Returns:
        Lists of pieces, one per shard, in ``piece_id`` order, each holding about
        :data:`SHARD_TARGET_CLIPS` clips.
    """
    ordered = sorted(pieces, key=lambda piece: piece["piece_id"])
    total = sum(piece["clips"] for piece in ordered)
    if not ordered:
        return []
    count = max(1, min(len(ordered), math.ceil(total / SHARD_TARGET_CLIPS)))
    shards: list[list[dict[str, Any]]] = [[] for _ in range(count)]
    before = 0
    for piece in ordered:
        shards[min(count - 1, before * count // total)].append(piece)
        before += piece["clips"]
    return [shard for shard in shards if shard]


def shard_name(split: str, index: int, count: int) -> str:
    """Returns the file name of shard ``index`` of ``count`` of a split."""
    return f"{split}-{index:05d}-of-{count:05d}.tfrecord"


def _read_chunks(paths: list[Path]) -> Iterator[bytes]:
    for path in paths:
        with open(path, "rb") as stream:
            while chunk := stream.read(_CHUNK_BYTES):
                yield chunk


def write_shards(
    out_dir: str | os.PathLike,
    pieces_dir: str | os.PathLike,
    split: str,
    pieces: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Writes the shards of one split by concatenating per-piece TFRecord files.

    TFRecord files are self-delimiting, so their concatenation is a valid
    TFRecord file holding the pieces' records in order. Each shard is written
    atomically.

    Returns:
        Manifest entries ``{"file", "pieces", "clips"}``, one per shard.
    """
    planned = plan_shards(pieces)
    entries = []
    for index, shard in enumerate(planned):
        name = shard_name(split, index, len(planned))
        paths = [Path(pieces_dir) / f"{piece['piece_id']}.tfrecord" for piece in shard]
        write_bytes_atomically(Path(out_dir) / name, _read_chunks(paths))
        entries.append(
            {"file": name, "pieces": len(shard), "clips": sum(piece["clips"] for piece in shard)}
        )
    return entries
