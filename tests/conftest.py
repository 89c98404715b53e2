"""Shared fixtures: small real datasets prepared with the real pipeline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tfembed.prepare import prepare

TINY_COMPOSERS = ["bach", "josquin", "palestrina", "haydn"]
"""Corpus folders of the tiny dataset: short scores that convert in well under a second."""


@pytest.fixture(scope="session", autouse=True)
def _conversion_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keeps music21 conversions of the test session out of the user's cache."""
    os.environ.setdefault("TFEMBED_CACHE", str(tmp_path_factory.mktemp("tfembed-cache")))


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset prepared from 4 real corpus pieces of each of 4 composers.

    Every composer has pieces in train (2), validation (1) and test (1).
    """
    out = tmp_path_factory.mktemp("tiny") / "data"
    prepare(
        out,
        corpus="music21",
        composers=TINY_COMPOSERS,
        pieces_per_composer=4,
        max_piece_seconds=120,
        workers=2,
    )
    return out
