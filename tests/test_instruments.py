"""Rendering with the file's own instruments (``tfembed-prepare --instruments``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from midi_files import scale_notes, sequence_with, write_sequence
from note_seq.protobuf import music_pb2

from tfembed.cli.embed import main as embed_main
from tfembed.cli.prepare import main as prepare_main
from tfembed.cli.search import main as search_main
from tfembed.dataset.clips import load_clips
from tfembed.dataset.manifest import open_dataset, read_manifest
from tfembed.errors import InputError
from tfembed.features.framegrid import DEFAULT_GRID
from tfembed.inference.batch_embed import run_settings
from tfembed.inference.embedder import Embedder
from tfembed.preparation.instruments import AS_WRITTEN, AS_WRITTEN_WITH_DRUMS, PIANO
from tfembed.preparation.midi import clean_sequence
from tfembed.preparation.render import find_soundfont, render_quietly, render_sequence
from tfembed.search.index import SEARCH_NAME

VIOLIN, FLUTE = 40, 73
KICK, HI_HAT = 36, 42


def _band(seconds: float = 8.0) -> music_pb2.NoteSequence:
    """A piano scale, a violin line, a flute line and a drum beat, each a part of its own."""
    sequence = sequence_with(scale_notes(seconds))
    for index, program in ((1, VIOLIN), (2, FLUTE)):
        for start in np.arange(0.0, seconds, 1.0):
            sequence.notes.add(
                pitch=64 + 3 * index,
                start_time=start,
                end_time=start + 0.9,
                velocity=90,
                instrument=index,
                program=program,
            )
    for start in np.arange(0.0, seconds, 0.5):
        sequence.notes.add(
            pitch=KICK if start % 1 == 0 else HI_HAT,
            start_time=start,
            end_time=start + 0.1,
            velocity=100,
            instrument=9,
            is_drum=True,
        )
    sequence.total_time = seconds
    return sequence


def _pitched(sequence: music_pb2.NoteSequence) -> list[tuple]:
    return sorted(
        (note.pitch, note.start_time, note.end_time, note.instrument) for note in sequence.notes
    )


def test_each_choice_keeps_the_same_pitched_notes_and_plays_what_it_says() -> None:
    band = _band()
    drums = sum(note.is_drum for note in band.notes)
    piano, written, with_drums = (
        clean_sequence(band, 600.0, instruments=choice)
        for choice in (PIANO, AS_WRITTEN, AS_WRITTEN_WITH_DRUMS)
    )

    assert _pitched(piano.sequence) == _pitched(written.sequence) == _pitched(with_drums.sequence)
    assert not any(note.is_drum for note in with_drums.sequence.notes)
    assert {note.program for note in piano.sequence.notes} == {0}
    assert {note.program for note in written.sequence.notes} == {0, VIOLIN, FLUTE}
    assert piano.dropped_drum_notes == written.dropped_drum_notes == drums
    assert with_drums.dropped_drum_notes == 0 and len(with_drums.drum_notes) == drums
    assert piano.performance() is piano.sequence
    played = with_drums.performance()
    assert sum(note.is_drum for note in played.notes) == drums
    assert len(played.notes) == len(band.notes)


def test_the_cap_cuts_the_drums_too() -> None:
    cleaned = clean_sequence(_band(8.0), 4.0, instruments=AS_WRITTEN_WITH_DRUMS)
    assert cleaned.cut_at_seconds == 4.0
    assert max(note.end_time for note in cleaned.performance().notes) <= 4.0
    assert all(note.start_time < 4.0 for note in cleaned.drum_notes)


def _spectrum(audio: np.ndarray) -> np.ndarray:
    magnitude = np.abs(np.fft.rfft(audio[: 4 * DEFAULT_GRID.sample_rate]))
    return magnitude / np.linalg.norm(magnitude)


def test_programs_and_drums_are_heard() -> None:
    soundfont = find_soundfont()
    band = _band()
    piano, written, with_drums = (
        render_sequence(
            clean_sequence(band, 600.0, instruments=choice).performance(), DEFAULT_GRID, soundfont
        )
        for choice in (PIANO, AS_WRITTEN, AS_WRITTEN_WITH_DRUMS)
    )
    assert piano.shape == written.shape
    # The violin and the flute change the sound, not only its loudness.
    assert float(_spectrum(piano) @ _spectrum(written)) < 0.95

    # The drums are heard, and what they add is the kit playing the drum notes alone.
    added = with_drums - written
    assert np.sqrt(np.mean(added**2)) > 0.1 * np.sqrt(np.mean(written**2))
    drums = clean_sequence(band, 600.0, instruments=AS_WRITTEN_WITH_DRUMS)
    kit_alone = music_pb2.NoteSequence(total_time=drums.performance().total_time)
    kit_alone.notes.extend(drums.drum_notes)
    alone = render_sequence(kit_alone, DEFAULT_GRID, soundfont)
    assert np.corrcoef(added, alone)[0, 1] > 0.99
    # Rendering is deterministic with several programs on several channels.
    again = render_sequence(
        clean_sequence(band, 600.0, instruments=AS_WRITTEN).performance(), DEFAULT_GRID, soundfont
    )
    np.testing.assert_array_equal(again, written)


def test_a_kit_the_soundfont_lacks_is_played_by_its_standard_kit_and_reported() -> None:
    soundfont = find_soundfont()
    cleaned = clean_sequence(_band(), 600.0, instruments=AS_WRITTEN_WITH_DRUMS)
    standard, standard_said = render_quietly(cleaned.performance(), DEFAULT_GRID, soundfont)
    missing = cleaned.performance()
    for note in missing.notes:
        if note.is_drum:
            note.program = 100  # no General MIDI soundfont here has a kit 100
    audio, said = render_quietly(missing, DEFAULT_GRID, soundfont)

    np.testing.assert_array_equal(audio, standard)
    assert said.count > standard_said.count
    assert "128" in said.first and "100" in said.first


@pytest.fixture(scope="module")
def band_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("band")
    for name, seconds in (("one", 12.0), ("two", 10.0), ("three", 9.0)):
        write_sequence(folder / f"{name}.mid", _band(seconds))
    return folder


def _prepared(band_dir: Path, out: Path, *options: str) -> Path:
    arguments = ["--midi_dir", str(band_dir), "--out", str(out), "--workers", "1", *options]
    assert prepare_main(arguments) == 0
    return out


def _clips(data: Path, rendering: str | int = 0) -> dict[str, np.ndarray]:
    clips = []
    for split in ("train", "validation", "test"):
        clips += list(load_clips(data, split, rendering).as_numpy_iterator())
    order = np.lexsort(([c["clip_index"] for c in clips], [c["piece_id"] for c in clips]))
    return {key: np.stack([clips[i][key] for i in order]) for key in ("mel", "roll")}


def test_one_dataset_holds_the_piano_and_the_parts_as_written_each_as_prepared_alone(
    band_dir: Path, tmp_path: Path
) -> None:
    soundfont = str(find_soundfont())
    both = _prepared(
        band_dir,
        tmp_path / "both",
        *("--soundfonts", f"{soundfont},{soundfont}", "--instruments", "piano,as_written"),
    )
    piano = _prepared(band_dir, tmp_path / "piano", "--soundfont", soundfont)
    written = _prepared(band_dir, tmp_path / "written", "--instruments", AS_WRITTEN)

    stem = Path(soundfont).stem
    assert open_dataset(both).renderings == (stem, f"{stem}+{AS_WRITTEN}")
    renderings = json.loads((both / "manifest.json").read_text())["renderings"]
    assert [entry["instruments"] for entry in renderings] == [PIANO, AS_WRITTEN]
    for name, alone in ((stem, piano), (f"{stem}+{AS_WRITTEN}", written)):
        for key in ("mel", "roll"):
            np.testing.assert_array_equal(_clips(both, name)[key], _clips(alone)[key])
    assert np.abs(_clips(written)["mel"].astype(np.float32) - _clips(piano)["mel"]).mean() > 0.1


def test_the_drums_change_the_audio_and_never_the_roll(band_dir: Path, tmp_path: Path) -> None:
    piano = _clips(_prepared(band_dir, tmp_path / "piano"))
    with_drums = _clips(
        _prepared(band_dir, tmp_path / "drums", "--instruments", AS_WRITTEN_WITH_DRUMS)
    )

    np.testing.assert_array_equal(with_drums["roll"], piano["roll"])
    assert np.abs(with_drums["mel"].astype(np.float32) - piano["mel"]).mean() > 0.1


@pytest.mark.parametrize(
    ("instruments", "problem"),
    [("organ", "none of piano, as_written"), ("piano,as_written", "2 choices for 1 soundfonts")],
)
def test_bad_instruments_stop_the_run_in_one_line(
    band_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture, instruments: str, problem: str
) -> None:
    arguments = ["--midi_dir", str(band_dir), "--out", str(tmp_path / "o"), "--instruments"]
    assert prepare_main([*arguments, instruments]) == 1
    error = capsys.readouterr().err.strip()
    assert problem in error and len(error.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_embedding_reads_midi_as_written_as_preparation_does(
    band_dir: Path, tmp_path: Path
) -> None:
    data = _prepared(band_dir, tmp_path / "written", "--instruments", AS_WRITTEN)
    written = Embedder("mel_mel", load=False, instruments=AS_WRITTEN).reader
    piano = Embedder("mel_mel", load=False).reader
    clips = []
    for split in ("train", "validation", "test"):
        clips += list(load_clips(data, split).as_numpy_iterator())
    pieces = {piece["piece_id"]: piece for piece in read_manifest(data)["pieces"]}
    frames = DEFAULT_GRID.clip_frames
    for piece_id in {clip["piece_id"].decode() for clip in clips}:
        path = band_dir / Path(pieces[piece_id]["file"]).name
        own = [clip for clip in clips if clip["piece_id"].decode() == piece_id]
        read = written.read_midi(path).frames(DEFAULT_GRID)
        cut = np.stack(
            [read[c["clip_index"] * frames : (c["clip_index"] + 1) * frames] for c in own]
        )
        # Prepared mels are stored as float16: the same values once rounded alike.
        expected = np.stack([clip["mel"] for clip in own])
        np.testing.assert_array_equal(cut.astype(np.float16).astype(np.float32), expected)
        as_piano = piano.read_midi(path).frames(DEFAULT_GRID)[: len(read)]
        assert np.abs(as_piano - read).mean() > 0.1


@pytest.mark.slow  # loads mel_mel and embeds
def test_who_plays_midi_is_a_setting_of_embedding_runs_and_of_an_index(
    band_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert (
        run_settings(Embedder("mel_mel", load=False, instruments=AS_WRITTEN), None)["instruments"]
        == AS_WRITTEN
    )
    # The piano's settings are those of runs made before the option; a roll reads no players.
    assert "instruments" not in run_settings(Embedder("mel_mel", load=False), None)
    roll = Embedder("sym_sym", load=False, instruments=AS_WRITTEN)
    assert "instruments" not in run_settings(roll, None)

    index = tmp_path / "index"
    piece = str(band_dir / "three.mid")
    command = ["index", "--model", "mel_mel", "--out", str(index), piece]
    assert search_main([*command, "--instruments", AS_WRITTEN]) == 0
    assert json.loads((index / SEARCH_NAME).read_text())["settings"]["instruments"] == AS_WRITTEN
    capsys.readouterr()
    assert search_main(["index", "--out", str(index), "--instruments", PIANO]) == 1
    error = capsys.readouterr().err
    assert "--instruments as_written, not --instruments piano" in error
    assert search_main(["index", "--out", str(index)]) == 0
    assert "1 already done" in capsys.readouterr().out


def test_an_unknown_choice_of_players_is_refused() -> None:
    with pytest.raises(InputError, match="instruments must be one of piano, as_written"):
        Embedder("mel_mel", load=False, instruments="organ")
    with pytest.raises(SystemExit):
        embed_main(["--instruments", "organ", "x.mid"])
