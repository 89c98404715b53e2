"""Deterministic train/validation/test split by piece, stratified by composer."""

from __future__ import annotations

import dataclasses
import hashlib
from collections import defaultdict

from tfembed.preparation.sources import Piece

SPLIT_PATTERN = ("train", "test", "validation") + ("train",) * 7
"""Split of the k-th piece of a composer, in hash order, for k modulo 10: 80/10/10."""


def assign_splits(pieces: list[Piece]) -> list[Piece]:
    """Gives every piece without a split one; pieces that have one keep it.

    Within each composer, the pieces without a split are ordered by the sha1 of
    their id and dealt out as train, test, validation, then seven train, repeating,
    so every composer with three or more pieces has a piece in each split and the
    assignment never depends on the order files were found in. Splits are by
    piece, never by clip: neighbouring clips never straddle two splits.
    """
    unassigned = defaultdict(list)
    for piece in pieces:
        if piece.split is None:
            unassigned[piece.composer_name].append(piece)
    assigned = {}
    for group in unassigned.values():
        ordered = sorted(group, key=lambda piece: hashlib.sha1(piece.piece_id.encode()).digest())
        for position, piece in enumerate(ordered):
            split = SPLIT_PATTERN[position % len(SPLIT_PATTERN)]
            assigned[piece.piece_id] = dataclasses.replace(piece, split=split)
    return [assigned.get(piece.piece_id, piece) for piece in pieces]
