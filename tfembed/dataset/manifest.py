"""A prepared dataset opened once: its manifest, frame grid and shard files.

Readable without TensorFlow. Training, evaluation and export open a dataset
with :func:`open_dataset` and pass the :class:`PreparedDataset` down, so the
manifest is read and checked in one place.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from tfembed.errors import DatasetError
from tfembed.features.framegrid import FrameGrid

DATASET_MANIFEST_NAME = "manifest.json"
"""The file of a prepared dataset that describes it (not the shipped models' manifest)."""

TRAIN_SPLIT = "train"
VALIDATION_SPLIT = "validation"
TEST_SPLIT = "test"
SPLITS = (TRAIN_SPLIT, VALIDATION_SPLIT, TEST_SPLIT)
"""The splits that are evaluated; every dataset has them (some may be empty)."""

PRETRAIN_SPLIT = "pretrain"
"""Clips for self-supervised training only: works held out of every evaluation split."""

ALL_SPLITS = (*SPLITS, PRETRAIN_SPLIT)


def read_manifest(data_dir: str | os.PathLike) -> dict[str, Any]:
    """Reads ``manifest.json`` of a prepared dataset.

    Raises:
        DatasetError: The folder has no manifest (preparation never finished) or
            it cannot be read as JSON.
    """
    path = Path(data_dir) / DATASET_MANIFEST_NAME
    if not path.is_file():
        raise DatasetError(
            f"{path} not found: {data_dir} is not a finished tfembed dataset "
            "(run tfembed-prepare, or rerun it to finish an interrupted preparation)"
        )
    try:
        manifest = json.loads(path.read_text())
        FrameGrid.from_dict(manifest["frame_grid"])
        manifest["shards"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DatasetError(
            f"{path} is unreadable or not a tfembed manifest ({type(error).__name__}: {error}); "
            "prepare the dataset again"
        ) from error
    return manifest


def grid_of(manifest: dict[str, Any]) -> FrameGrid:
    """Returns the frame grid a dataset was prepared with."""
    return FrameGrid.from_dict(manifest["frame_grid"])


@dataclasses.dataclass(frozen=True)
class PreparedDataset:
    """A dataset written by ``tfembed-prepare``, read once.

    Attributes:
        root: Its folder.
        manifest: The parsed ``manifest.json``.
        grid: The frame grid of its clips.
    """

    root: Path
    manifest: dict[str, Any] = dataclasses.field(repr=False)
    grid: FrameGrid

    @property
    def manifest_path(self) -> Path:
        """The manifest file."""
        return self.root / DATASET_MANIFEST_NAME

    def shard_paths(self, *splits: str) -> list[str]:
        """The shard files of ``splits`` in order, as listed in the manifest."""
        paths = []
        for split in splits:
            if split not in ALL_SPLITS:
                raise DatasetError(
                    f"unknown split {split!r}; expected one of {', '.join(ALL_SPLITS)}"
                )
            shards = self.manifest["shards"].get(split, [])
            paths += [str(self.root / shard["file"]) for shard in shards]
        return paths

    @property
    def renderings(self) -> tuple[str, ...]:
        """Names of the mel renderings every clip holds, the reference first.

        Data prepared with one soundfont, before renderings were recorded, has one:
        its soundfont's file stem.
        """
        listed = self.manifest.get("renderings")
        if listed:
            return tuple(rendering["name"] for rendering in listed)
        return (Path(self.manifest.get("soundfont", "reference")).stem,)

    def rendering_index(self, rendering: str | int) -> int:
        """The position of a rendering (given by name or position) in every clip's record.

        Raises:
            DatasetError: The dataset has no such rendering.
        """
        names = self.renderings
        if isinstance(rendering, int) and 0 <= rendering < len(names):
            return rendering
        if rendering in names:
            return names.index(rendering)
        raise DatasetError(
            f"{self.root} has no rendering {rendering!r}; its renderings are "
            f"{', '.join(names)} (prepare with --soundfonts to add others)"
        )

    def clip_count(self, *splits: str) -> int:
        """Clips in ``splits``."""
        return sum(int(self.manifest["counts"]["clips"].get(split, 0)) for split in splits)

    def describe(self) -> dict[str, Any]:
        """What a run or an export records about the dataset it used."""
        return {
            "data_dir": str(self.root.resolve()),
            "manifest": str(self.manifest_path.resolve()),
            "created": self.manifest.get("created"),
            "frame_grid": self.grid.to_dict(),
        }


def open_dataset(data: str | os.PathLike | PreparedDataset) -> PreparedDataset:
    """Opens a prepared dataset (a folder, or one already opened).

    Raises:
        DatasetError: The folder is not a finished tfembed dataset.
    """
    if isinstance(data, PreparedDataset):
        return data
    root = Path(data)
    manifest = read_manifest(root)
    return PreparedDataset(root, manifest, grid_of(manifest))
