"""Deterministic train/validation/test split by work, stratified by composer."""

from __future__ import annotations

import dataclasses
import hashlib
from collections import defaultdict
from collections.abc import Iterable

from tfembed.dataset.manifest import TEST_SPLIT, TRAIN_SPLIT, VALIDATION_SPLIT
from tfembed.preparation.sources import Piece

SPLIT_SHARES = {TEST_SPLIT: 0.3, TRAIN_SPLIT: 0.6, VALIDATION_SPLIT: 0.1}
"""Target share of each composer's pieces in each split (ties go in this order)."""

FIRST_SPLITS = (TRAIN_SPLIT, TEST_SPLIT, VALIDATION_SPLIT)
"""Splits of a composer's three largest works: every split holds every composer
that has three works, and test every composer that has two."""

MIN_TEST_PIECES = 3
"""Test pieces wanted per composer, where its works allow without emptying train."""


def work_of(piece: Piece) -> str:
    """The piece's work, or the piece itself when it has none."""
    return piece.work or piece.piece_id


def _targets(pieces: int) -> dict[str, float]:
    targets = {split: share * pieces for split, share in SPLIT_SHARES.items()}
    targets[TEST_SPLIT] = max(targets[TEST_SPLIT], min(MIN_TEST_PIECES, pieces / 2))
    return targets


def assign_splits(pieces: list[Piece]) -> list[Piece]:
    """Gives every piece without a split one, by work; pieces that have one keep it.

    All pieces of a work go to one split (movements of a quartet, sections of a
    mass, performances of a sonata), so nothing in test is a sibling of what a
    model or probe was trained on. Within each composer, the works without a
    split are dealt out largest first (ties in the order of the sha1 of the work
    id): the first three to train, test and validation, each next one to the
    split furthest below its target number of pieces: 30% test (and at least 3
    pieces where the composer has 6 or more), 60% train, 10% validation. The
    assignment never depends on the order files were found in.
    A work that the metadata puts in a split (any of its pieces) stays there whole.
    """
    given = {work_of(piece): piece.split for piece in pieces if piece.split is not None}
    works: dict[str, dict[str, list[Piece]]] = defaultdict(lambda: defaultdict(list))
    for piece in pieces:
        if work_of(piece) not in given:
            works[piece.composer_name][work_of(piece)].append(piece)
    split_of = dict(given)
    for composer_works in works.values():
        targets = _targets(sum(len(members) for members in composer_works.values()))
        placed = dict.fromkeys(SPLIT_SHARES, 0)
        order = sorted(
            composer_works,
            key=lambda work: (-len(composer_works[work]), hashlib.sha1(work.encode()).digest()),
        )
        for position, work in enumerate(order):
            if position < len(FIRST_SPLITS):
                split = FIRST_SPLITS[position]
            else:
                split = max(SPLIT_SHARES, key=lambda name: targets[name] - placed[name])
            placed[split] += len(composer_works[work])
            split_of[work] = split
    return [dataclasses.replace(piece, split=split_of[work_of(piece)]) for piece in pieces]


def works_per_split(split_and_work: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """The works of each split, sorted (for the manifest), from ``(split, work)`` pairs."""
    works: dict[str, set[str]] = defaultdict(set)
    for split, work in split_and_work:
        works[split].add(work)
    return {split: sorted(names) for split, names in sorted(works.items())}
