"""The shipped music21 conversions: complete, equal to music21's own, used without parsing."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tfembed.preparation.corpus import (
    DEFAULT_PIECES_PER_COMPOSER,
    SHIPPED_CONVERSIONS,
    convert_score,
    corpus_root,
    list_corpus,
)

REBUILD = "rebuild it with tools/release/music21_conversions.py"


def _prefix() -> str:
    return f"music21-{importlib.metadata.version('music21')}/"


def _shipped() -> dict[str, str]:
    """Score path -> archive member, for the installed music21."""
    with zipfile.ZipFile(SHIPPED_CONVERSIONS) as archive:
        names = archive.namelist()
    assert all(name.startswith(_prefix()) for name in names), f"other music21 version: {REBUILD}"
    return {
        name[len(_prefix()) :].removesuffix(".mid").removesuffix(".failed.txt"): name
        for name in names
    }


def test_archive_holds_the_default_selection_of_the_installed_music21():
    default = list_corpus(pieces_per_composer=DEFAULT_PIECES_PER_COMPOSER)
    shipped = _shipped()
    assert set(shipped) == {piece.path for piece in default}, REBUILD
    failed = [path for path, name in shipped.items() if name.endswith(".failed.txt")]
    assert len(failed) < len(shipped) // 20


def test_shipped_midi_is_music21s_conversion_byte_for_byte():
    shipped = _shipped()
    converted = sorted(
        (path for path, name in shipped.items() if name.endswith(".mid")),
        key=lambda path: (corpus_root() / path).stat().st_size,
    )
    smallest_per_format = {Path(path).suffix: path for path in reversed(converted)}
    assert len(smallest_per_format) >= 2
    with zipfile.ZipFile(SHIPPED_CONVERSIONS) as archive:
        for path in smallest_per_format.values():
            assert convert_score(corpus_root() / path) == archive.read(shipped[path]), path


def test_corpus_midi_takes_the_shipped_conversion_without_parsing(tmp_path):
    shipped = _shipped()
    converted = sorted(path for path, name in shipped.items() if name.endswith(".mid"))
    failed = sorted(path for path, name in shipped.items() if name.endswith(".failed.txt"))
    script = f"""
import json, sys
from tfembed.errors import PieceError
from tfembed.preparation.corpus import corpus_midi
path = corpus_midi({converted[0]!r})
try:
    corpus_midi({failed[0]!r})
    reason = None
except PieceError as error:
    reason = str(error)
print(json.dumps({{"path": str(path), "reason": reason, "music21": "music21" in sys.modules}}))
"""
    env = {**os.environ, "TFEMBED_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["music21"] is False
    with zipfile.ZipFile(SHIPPED_CONVERSIONS) as archive:
        assert Path(result["path"]).read_bytes() == archive.read(shipped[converted[0]])
        assert result["reason"] == archive.read(shipped[failed[0]]).decode()
    assert result["reason"].startswith("music21 cannot convert the score:")
    assert Path(result["path"]).parent.is_relative_to(tmp_path / "cache")
