"""Checking a --soundfonts list: Debian's real soundfonts, and broken files made from them."""

from __future__ import annotations

import os
import shutil
import struct
import wave
from pathlib import Path

import numpy as np
import pytest
from midi_files import sequence_with

from tfembed.features.framegrid import DEFAULT_GRID
from tfembed.preparation.render import check_soundfont, render_quietly
from tfembed.preparation.soundfonts import (
    SoundfontError,
    parse_soundfonts,
    read_soundfont,
    read_soundfonts,
    split_soundfont_list,
)

DEBIAN_SOUNDFONTS = {
    "FluidR3_GM": ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "fluid-soundfont-gm"),
    "TimGM6mb": ("/usr/share/sounds/sf2/TimGM6mb.sf2", "timgm6mb-soundfont"),
    "OPL-3_FM_128M": ("/usr/share/sounds/sf2/OPL-3_FM_128M.sf2", "opl3-soundfont"),
    "FluidR3Mono_GM": ("/usr/share/sounds/sf3/FluidR3Mono_GM.sf3", "fluidr3mono-gm-soundfont"),
}
"""The General MIDI soundfonts tools/setup.sh installs: name -> (path, Debian package)."""


def _installed(name: str) -> Path:
    path, package = DEBIAN_SOUNDFONTS[name]
    if not Path(path).is_file():
        pytest.skip(f"{path} is not installed (apt-get install {package})")
    return Path(path)


@pytest.fixture
def timgm(tmp_path: Path) -> Path:
    """A copy of TimGM6mb (6 MB) that a test may damage."""
    return Path(shutil.copy(_installed("TimGM6mb"), tmp_path / "TimGM6mb.sf2"))


def _expect(paths: list, *words: str) -> None:
    with pytest.raises(SoundfontError) as raised:
        read_soundfonts(paths)
    message = str(raised.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message


def test_debian_soundfonts_are_read_with_name_hash_and_piano() -> None:
    paths = [_installed(name) for name in DEBIAN_SOUNDFONTS]
    soundfonts = parse_soundfonts(",".join(map(str, paths)))
    assert [soundfont.name for soundfont in soundfonts] == list(DEBIAN_SOUNDFONTS)
    for soundfont, path in zip(soundfonts, paths, strict=True):
        assert soundfont.path == path
        assert (0, 0) in soundfont.presets and len(soundfont.presets) > 100
        assert len(soundfont.sha256) == 64
        assert soundfont.to_dict() == {
            "name": soundfont.name,
            "path": str(path),
            "sha256": soundfont.sha256,
            "instruments": "piano",
        }
    assert len({soundfont.sha256 for soundfont in soundfonts}) == len(soundfonts)
    assert read_soundfont(paths[1]).sha256 == soundfonts[1].sha256  # stable


@pytest.mark.parametrize("name", list(DEBIAN_SOUNDFONTS))
def test_every_debian_soundfont_renders_a_sequence(name: str) -> None:
    path = _installed(name)
    check_soundfont(path)
    sequence = sequence_with([(60, 0.0, 0.4), (64, 0.5, 0.9), (67, 1.0, 1.4)])
    audio, messages = render_quietly(sequence, DEFAULT_GRID, path)
    assert audio.dtype == np.float32 and np.isfinite(audio).all()
    assert audio.shape == (round(2.4 * DEFAULT_GRID.sample_rate),)
    sounding = np.abs(audio[: DEFAULT_GRID.sample_rate // 2]).max()
    assert sounding > 1e-3, f"{name} rendered silence"
    assert messages.count == 0, messages.first


def test_list_option_is_split_on_commas(tmp_path: Path) -> None:
    assert split_soundfont_list(" a.sf2, ~/b.sf3") == [
        Path("a.sf2"),
        Path("~/b.sf3").expanduser(),
    ]
    for text, words in (("", "lists no soundfont"), ("a.sf2,,b.sf2", "empty entry")):
        with pytest.raises(SoundfontError, match=words):
            split_soundfont_list(text)


def test_missing_files_and_folders_are_named(tmp_path: Path, timgm: Path) -> None:
    _expect([timgm, tmp_path / "absent.sf2"], "absent.sf2", "does not exist")
    _expect([tmp_path], str(tmp_path), "is not a file")


def test_an_unreadable_file_is_named(tmp_path: Path, timgm: Path) -> None:
    locked = tmp_path / "locked.sf2"
    shutil.copy(timgm, locked)
    locked.chmod(0)
    if os.access(locked, os.R_OK):
        pytest.skip("this user reads files whatever their mode (root)")
    _expect([locked], "locked.sf2", "cannot read", "Permission denied")


def test_files_that_are_not_soundfonts_are_named(tmp_path: Path, timgm: Path) -> None:
    renamed = tmp_path / "tone.sf2"
    with wave.open(str(renamed), "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(16000)
        audio.writeframes(np.zeros(1600, np.int16).tobytes())
    _expect([renamed], "tone.sf2", "is not a soundfont", "RIFF 'WAVE'")
    empty = tmp_path / "empty.sf2"
    empty.write_bytes(b"")
    _expect([empty], "empty.sf2", "no RIFF 'sfbk' header")
    truncated = tmp_path / "truncated.sf2"
    truncated.write_bytes(timgm.read_bytes()[: 1 << 20])
    _expect([truncated], "truncated.sf2", "truncated", str(1 << 20))


def test_duplicates_by_path_and_by_content_are_named(tmp_path: Path, timgm: Path) -> None:
    _expect([timgm, timgm], "listed twice")
    link = tmp_path / "link.sf2"
    link.symlink_to(timgm)
    _expect([timgm, link], "link.sf2", "listed twice")
    copy = Path(shutil.copy(timgm, tmp_path / "copy.sf2"))
    _expect([timgm, copy], "copy.sf2", "same file as", str(timgm))
    other = tmp_path / "other"
    other.mkdir()
    changed = bytearray(timgm.read_bytes())
    changed[4096] ^= 1  # a sample byte: another soundfont, with the same file stem
    (other / timgm.name).write_bytes(changed)
    _expect([timgm, other / timgm.name], "share the name 'TimGM6mb'", "rename one")


def test_a_soundfont_without_a_piano_preset_is_named(timgm: Path) -> None:
    data = bytearray(timgm.read_bytes())
    headers = data.rfind(b"phdr")
    (length,) = struct.unpack_from("<I", data, headers + 4)
    moved = 0
    for record in range(headers + 8, headers + 8 + length - 38, 38):
        preset, bank = struct.unpack_from("<HH", data, record + 20)
        if (bank, preset) == (0, 0):
            struct.pack_into("<H", data, record + 22, 1)  # the piano moves to bank 1
            moved += 1
    assert moved == 1
    timgm.write_bytes(data)
    check_soundfont(timgm)  # fluidsynth still loads it: only the byte check stops it
    _expect([timgm], "TimGM6mb.sf2", "no piano preset (bank 0, preset 0)")
