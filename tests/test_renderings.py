"""Preparing with several soundfonts: one record per clip holding every rendering."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from midi_files import scale_notes, sequence_with, write_sequence

from tfembed.cli.prepare import main as prepare_main
from tfembed.dataset.clips import load_clips
from tfembed.dataset.manifest import open_dataset
from tfembed.dataset.pairs import neighbour_pairs
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


@pytest.fixture(scope="module")
def two_renderings(midi_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two files prepared with FluidR3 GM (the reference) and TimGM6mb."""
    return _prepared(midi_dir, tmp_path_factory.mktemp("two") / "data", [FLUID, TIMGM])


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


def _rendering_of(clip: np.ndarray, renderings: dict[str, np.ndarray]) -> tuple[str, int]:
    """Which rendering and clip of the split a mel clip is (exactly)."""
    for name, clips in renderings.items():
        found = np.flatnonzero(np.all(clips == clip, axis=(1, 2)))
        if found.size:
            return name, int(found[0])
    raise AssertionError("a training clip is none of the dataset's clips")


def _train_batches(data: Path, **options) -> list[tuple[np.ndarray, np.ndarray]]:
    splits = ("train", "validation", "test")
    pairs = neighbour_pairs(open_dataset(data), splits, "mel", "mel", 4, seed=3, **options)
    return [(first.numpy(), second.numpy()) for first, second in pairs.take(4)]


def test_pairs_draw_each_clips_rendering_independently_and_reproducibly(
    two_renderings: Path,
) -> None:
    renderings = {name: _clips(two_renderings, name)["mel"] for name in ("FluidR3_GM", "TimGM6mb")}
    batches = _train_batches(two_renderings, renderings=(0, 1))
    drawn = []
    for first, second in batches:
        for query, positive in zip(first, second, strict=True):
            (query_rendering, query_clip) = _rendering_of(query, renderings)
            (positive_rendering, positive_clip) = _rendering_of(positive, renderings)
            assert positive_clip == query_clip + 1  # a neighbour, in either rendering
            drawn.append((query_rendering, positive_rendering))
    assert len(set(drawn)) == 4  # all four combinations of the two renderings occur
    again = _train_batches(two_renderings, renderings=(0, 1))
    assert len(batches) == 4
    for (first, second), (first_again, second_again) in zip(batches, again, strict=True):
        np.testing.assert_array_equal(first, first_again)
        np.testing.assert_array_equal(second, second_again)


def test_same_moment_pairs_are_the_query_in_the_other_rendering(two_renderings: Path) -> None:
    renderings = {name: _clips(two_renderings, name)["mel"] for name in ("FluidR3_GM", "TimGM6mb")}
    for first, second in _train_batches(two_renderings, renderings=(0, 1), same_moment=1.0):
        for query, positive in zip(first, second, strict=True):
            (query_rendering, query_clip) = _rendering_of(query, renderings)
            (positive_rendering, positive_clip) = _rendering_of(positive, renderings)
            assert positive_clip == query_clip and positive_rendering != query_rendering


def test_impossible_rendering_pairs_are_refused(two_renderings: Path) -> None:
    dataset = open_dataset(two_renderings)
    with pytest.raises(ValueError, match="not positions"):
        neighbour_pairs(dataset, "train", "mel", "mel", 8, renderings=(0, 2))
    with pytest.raises(ValueError, match="need mel clips on both sides"):
        neighbour_pairs(dataset, "train", "mel", "roll", 8, renderings=(0, 1), same_moment=0.5)
    with pytest.raises(ValueError, match="two renderings or more"):
        neighbour_pairs(dataset, "train", "mel", "mel", 8, renderings=(1,), same_moment=0.5)


def test_synthetic_instruments_replace_a_drawn_share_of_the_clips(two_renderings: Path) -> None:
    renderings = {name: _clips(two_renderings, name)["mel"] for name in ("FluidR3_GM", "TimGM6mb")}
    batches = _train_batches(two_renderings, renderings=(0, 1), synth_instruments=0.5)
    played, rendered = 0, 0
    for first, second in batches:
        for clip in (*first, *second):
            try:
                _rendering_of(clip, renderings)
                rendered += 1
            except AssertionError:  # a clip of no rendering: a synthetic instrument's
                played += 1
                assert np.isfinite(clip).all() and clip.max() > np.log(1e-6) + 1.0
    assert played >= 8 and rendered >= 8  # about half of 32 clips each
    again = _train_batches(two_renderings, renderings=(0, 1), synth_instruments=0.5)
    for (first, second), (first_again, second_again) in zip(batches, again, strict=True):
        np.testing.assert_array_equal(first, first_again)
        np.testing.assert_array_equal(second, second_again)
    with pytest.raises(ValueError, match="not go with same-moment pairs"):
        _train_batches(two_renderings, renderings=(0, 1), same_moment=0.5, synth_instruments=0.5)
