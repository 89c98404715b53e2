"""Shared fixtures: small real datasets prepared with the real pipeline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tfembed.preparation.prepare import prepare

TINY_COMPOSERS = ["bach", "josquin", "palestrina", "haydn"]
"""Corpus folders of the tiny dataset: short scores that convert in well under a second."""

TIMGM6MB = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")
"""A second General MIDI soundfont (Debian's timgm6mb-soundfont)."""


def _prepare_tiny(out: Path, **options) -> Path:
    """Prepares 4 real corpus pieces of each of :data:`TINY_COMPOSERS` into ``out``."""
    prepare(
        out, corpus="music21", composers=TINY_COMPOSERS, pieces_per_composer=4, workers=2, **options
    )
    return out


@pytest.fixture(scope="session", autouse=True)
def _conversion_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keeps music21 conversions of the test session out of the user's cache."""
    os.environ.setdefault("TFEMBED_CACHE", str(tmp_path_factory.mktemp("tfembed-cache")))


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset prepared from 4 real corpus pieces of each of 4 composers.

    Every composer has pieces in train, validation and test.
    """
    # Rendered at the files' own tempo, as tfembed-embed renders a MIDI file,
    # so that prepared clips and embedded files can be compared.
    return _prepare_tiny(
        tmp_path_factory.mktemp("tiny") / "data", max_piece_seconds=120, tempo_policy="stated"
    )


@pytest.fixture(scope="session")
def tiny_renderings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny dataset's pieces rendered with FluidR3 GM (the reference) and TimGM6mb."""
    soundfonts = [Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"), TIMGM6MB]
    if not all(path.is_file() for path in soundfonts):
        pytest.skip("needs fluid-soundfont-gm and timgm6mb-soundfont (tools/setup.sh)")
    out = tmp_path_factory.mktemp("tiny_renderings") / "data"
    return _prepare_tiny(out, max_piece_seconds=60, soundfonts=soundfonts)


@pytest.fixture(scope="session")
def mel_sym_run(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny MEL_SYM training run on the tiny dataset (a mel and a roll tower)."""
    from tfembed.cli.train import main as train_main

    run = tmp_path_factory.mktemp("mel_sym_run") / "run"
    config = ["--config", "mel_sym.gin", "--config", "tiny.gin"]
    assert train_main([*config, "--data", str(tiny_dataset), "--model_dir", str(run)]) == 0
    return run


@pytest.fixture(scope="session")
def exported_models(mel_sym_run: Path) -> dict[str, Path]:
    """The tiny MEL_SYM run exported twice, beside it: ``mel`` and ``roll`` towers."""
    from tfembed.cli.export import main as export_main

    root = mel_sym_run.parent  # the evaluation finds the run's curves beside its exports
    paths = {"mel": root / "mel", "roll": root / "roll"}
    for domain, tower in (("mel", "first"), ("roll", "second")):
        args = ["--model_dir", str(mel_sym_run), "--out", str(paths[domain]), "--tower", tower]
        assert export_main(args) == 0
    return paths


END_TO_END_FIXTURES = {
    "tiny_dataset",
    "tiny_renderings",
    "mel_sym_run",
    "exported_models",
    "plain_install",
}
"""Tests that use these run the real pipeline end to end (fluidsynth, music21)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks every test that prepares real data ``slow``: ``-m "not slow"`` is the fast tier."""
    for item in items:
        if END_TO_END_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def plain_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository installed as a user would, not editable (``pip install --target``)."""
    repository = Path(__file__).resolve().parents[1]
    target = tmp_path_factory.mktemp("plain_install") / "site"
    install = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*install, "--target", str(target), str(repository)],
        check=True,
        capture_output=True,
        cwd=target.parent,
    )
    return target


def run_installed(target: Path, script: str, folder: Path) -> list[str]:
    """Runs ``script`` from ``folder`` against the plain install; returns its printed words."""
    return subprocess.run(
        [sys.executable, "-c", script],
        check=True,
        capture_output=True,
        text=True,
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(target)},
    ).stdout.split()
