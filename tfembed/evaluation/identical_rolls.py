"""Identical roll clips: the bound they put on audio -> roll retrieval.

A roll tower maps a piano-roll clip to one point, so two test clips whose rolls
are identical (a repeat that starts on a clip boundary, a held chord, the same
bars in two editions of a piece) get the same embedding. Audio -> roll
retrieval counts a tie against the query, so such a clip's audio can never find
its own roll at rank 1, whatever the model: the share of clips whose roll is
unique in the test split is the R@1 a perfect model would reach. Roll -> audio
is not bound this way: the audio of a repeat can differ a little, in the sound
of the notes before it.
"""

from __future__ import annotations

import collections
import hashlib

import numpy as np

from tfembed.dataset.clips import load_clips
from tfembed.dataset.manifest import TEST_SPLIT, PreparedDataset


def identical_roll_counts(rolls: np.ndarray) -> dict[str, float]:
    """How many clips share their roll with another clip of ``rolls``, and the R@1 that leaves.

    Args:
        rolls: ``[clips, frames, pitches]`` roll clips.

    Returns:
        ``clips``; ``clips_with_an_identical_roll``; ``audio_to_roll_recall_at_1_bound``:
        the share of clips whose roll no other clip has.
    """
    return _counts(_digests(rolls))


def test_split_identical_rolls(dataset: PreparedDataset) -> dict[str, float]:
    """:func:`identical_roll_counts` over every clip of the test split, read in batches."""
    digests: list[bytes] = []
    for batch in load_clips(dataset, TEST_SPLIT).map(lambda clip: clip["roll"]).batch(256):
        digests += _digests(batch.numpy())
    return _counts(digests)


def _digests(rolls: np.ndarray) -> list[bytes]:
    return [hashlib.blake2b(np.ascontiguousarray(roll).tobytes()).digest() for roll in rolls]


def _counts(digests: list[bytes]) -> dict[str, float]:
    sizes = collections.Counter(digests)
    shared = sum(size for size in sizes.values() if size > 1)
    clips = len(digests)
    return {
        "clips": clips,
        "clips_with_an_identical_roll": shared,
        "audio_to_roll_recall_at_1_bound": (clips - shared) / clips if clips else 0.0,
    }
