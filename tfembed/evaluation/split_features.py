"""One pass over each split of a dataset that feeds every featurizer at once."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
from tqdm import tqdm

from tfembed.dataset.clips import load_clips
from tfembed.dataset.manifest import SPLITS, TRAIN_SPLIT, PreparedDataset, open_dataset
from tfembed.evaluation.featurizers import Featurizer

EVALUATION_BATCH_SIZE = 128
"""Clips per batch when evaluation embeds a split."""

LABELS = (
    "composer",
    "key_signature",
    "tempo",
    "tempo_explicit",
    "tempo_source",
    "note_density",
    "piece_id",
    "clip_index",
)


@dataclasses.dataclass
class SplitFeatures:
    """Features of every clip of a split, per featurizer, and the clips' labels.

    Attributes:
        features: Featurizer name -> ``[clips, features]`` float32.
        labels: Label name (``LABELS``) -> ``[clips]`` array.
    """

    features: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.labels["piece_id"])


def featurize_split(
    data: str | os.PathLike | PreparedDataset,
    split: str,
    featurizers: list[Featurizer],
    batch_size: int = EVALUATION_BATCH_SIZE,
    stride: int = 1,
    rendering: str | int = 0,
) -> SplitFeatures:
    """Reads a split once, in batches, and computes every featurizer's features.

    Args:
        data: A prepared dataset (a folder, or one opened).
        split: The split to read.
        featurizers: The rows to compute.
        batch_size: Clips per batch.
        stride: Keep only clips whose index within their piece is a multiple of
            this (1 keeps every clip).
        rendering: The mel rendering to read, by name or position (0: the reference).
    """
    dataset = open_dataset(data)
    total = -(-dataset.clip_count(split) // stride)
    features: dict[str, list[np.ndarray]] = {featurizer.name: [] for featurizer in featurizers}
    labels: dict[str, list[np.ndarray]] = {name: [] for name in LABELS}
    clips = load_clips(dataset, split, rendering)
    if stride > 1:
        clips = clips.filter(lambda clip: clip["clip_index"] % stride == 0)
    batches = clips.batch(batch_size).as_numpy_iterator()
    with tqdm(total=total, desc=f"embedding {split}", unit="clip", leave=False) as progress:
        for batch in batches:
            for featurizer in featurizers:
                features[featurizer.name].append(featurizer.embed(batch[featurizer.domain]))
            for name in LABELS:
                labels[name].append(batch[name])
            progress.update(len(batch["piece_id"]))
    if not labels["piece_id"]:
        raise ValueError(f"{dataset.root}: the {split} split has no clips")
    return SplitFeatures(
        {name: np.concatenate(parts) for name, parts in features.items()},
        {name: np.concatenate(parts) for name, parts in labels.items()},
    )


def featurize_splits(
    data: str | os.PathLike | PreparedDataset,
    featurizers: list[Featurizer],
    batch_size: int = EVALUATION_BATCH_SIZE,
    train_stride: int = 1,
) -> dict[str, SplitFeatures]:
    """:func:`featurize_split` of the train, validation and test splits.

    Args:
        data: A prepared dataset (a folder, or one opened).
        featurizers: The rows to compute.
        batch_size: Clips per batch.
        train_stride: Stride of the train split (validation and test use every clip).

    Raises:
        ValueError: A split has no clips.
    """
    return {
        split: featurize_split(
            data, split, featurizers, batch_size, train_stride if split == TRAIN_SPLIT else 1
        )
        for split in SPLITS
    }
