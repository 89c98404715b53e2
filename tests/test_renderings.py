"""Preparing with several soundfonts: one record per clip holding every rendering."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from midi_files import scale_notes, sequence_with, write_sequence

from tfembed.cli.prepare import main as prepare_main
from tfembed.dataset.clips import load_clips
from tfembed.dataset.manifest import open_dataset
from tfembed.errors import DatasetError
from tfembed.preparation.prepare import prepare

FLUID = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
TIMGM = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")

pytestmark = pytest.mark.skipif(
    not (FLUID.is_file() and TIMGM.is_file()),
    reason="needs fluid-soundfont-gm and timgm6mb-soundfont (tools/setup.sh installs them)",
)


@pytest.fixture(scope="module")
def midi_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two short MIDI files built in code."""
    folder = tmp_path_factory.mktemp("midi")
    write_sequence(folder / "scale.mid", sequence_with(scale_notes(10.0)))
    write_sequence(folder / "slow.mid", sequence_with(scale_notes(13.0, step=0.5)))
    return folder


def _prepared(midi_dir: Path, out: Path, soundfonts: list[Path]) -> Path:
    prepare(out, midi_dir=midi_dir, soundfonts=soundfonts, workers=1)
    return out


def _clips(data: Path, rendering: str | int) -> dict[str, np.ndarray]:
    clips = list(load_clips(data, "train", rendering).as_numpy_iterator())
    clips += list(load_clips(data, "validation", rendering).as_numpy_iterator())
    clips += list(load_clips(data, "test", rendering).as_numpy_iterator())
    return {
        key: np.stack([clip[key] for clip in clips])
        for key in ("mel", "roll", "piece_id", "clip_index")
    }


def test_each_rendering_equals_a_preparation_with_its_soundfont_alone(
    midi_dir: Path, tmp_path: Path
) -> None:
    both = _prepared(midi_dir, tmp_path / "both", [FLUID, TIMGM])
    fluid = _prepared(midi_dir, tmp_path / "fluid", [FLUID])
    timgm = _prepared(midi_dir, tmp_path / "timgm", [TIMGM])

    dataset = open_dataset(both)
    assert dataset.renderings == ("FluidR3_GM", "TimGM6mb")
    assert [entry["sha256"][:8] for entry in dataset.manifest["renderings"]] == [
        entry["sha256"][:8]
        for entry in open_dataset(fluid).manifest["renderings"]
        + open_dataset(timgm).manifest["renderings"]
    ]
    reference, other = _clips(both, "FluidR3_GM"), _clips(both, "TimGM6mb")
    alone_fluid, alone_timgm = _clips(fluid, 0), _clips(timgm, 0)
    for key in ("roll", "piece_id", "clip_index"):
        np.testing.assert_array_equal(reference[key], alone_fluid[key])
        np.testing.assert_array_equal(other[key], reference[key])
    np.testing.assert_array_equal(reference["mel"], alone_fluid["mel"])
    # The clips kept are decided by the reference; TimGM6mb alone keeps the same here.
    np.testing.assert_array_equal(other["mel"], alone_timgm["mel"])
    assert np.abs(other["mel"] - reference["mel"]).mean() > 0.1  # another piano, not a copy
    # The reference's records, read by position, are those of the reference alone.
    np.testing.assert_array_equal(_clips(both, 0)["mel"], alone_fluid["mel"])


def test_a_rerun_writes_byte_identical_records(midi_dir: Path, tmp_path: Path) -> None:
    first = _prepared(midi_dir, tmp_path / "first", [FLUID, TIMGM])
    second = _prepared(midi_dir, tmp_path / "second", [FLUID, TIMGM])
    shards = sorted(path.name for path in first.glob("*.tfrecord"))
    assert shards
    for name in shards:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_an_unknown_rendering_is_refused_with_the_names_there_are(
    midi_dir: Path, tmp_path: Path
) -> None:
    data = _prepared(midi_dir, tmp_path / "data", [FLUID, TIMGM])
    with pytest.raises(DatasetError, match=r"no rendering 'OPL-3_FM_128M'.*FluidR3_GM, TimGM6mb"):
        load_clips(data, "train", "OPL-3_FM_128M")


def test_bad_soundfont_lists_stop_the_command_in_one_line(
    midi_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.sf2"
    args = ["--midi_dir", str(midi_dir), "--out", str(tmp_path / "out")]
    assert prepare_main([*args, "--soundfonts", f"{FLUID},{missing}"]) == 1
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and str(missing) in error and "does not exist" in error
    assert prepare_main([*args, "--soundfonts", f"{FLUID},{FLUID}"]) == 1
    assert "listed twice" in capsys.readouterr().err
    assert not (tmp_path / "out" / "manifest.json").exists()
    with pytest.raises(SystemExit) as usage:
        prepare_main([*args, "--soundfont", str(FLUID), "--soundfonts", f"{FLUID},{TIMGM}"])
    assert usage.value.code == 2
    assert "not allowed with" in capsys.readouterr().err
