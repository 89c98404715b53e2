"""The preparation pipeline on MIDI built in code, bad files and real corpus pieces."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from midi_files import (
    scale_notes,
    sequence_with,
    write_bad_folder,
    write_raw_midi,
    write_sequence,
)

from tfembed.cli.prepare import main as prepare_main
from tfembed.dataset.clips import load_clips
from tfembed.dataset.manifest import SPLITS, read_manifest
from tfembed.dataset.vocabulary import UNKNOWN
from tfembed.features.framegrid import DEFAULT_GRID
from tfembed.preparation.prepare import PrepareError, prepare
from tfembed.preparation.render import RenderSetupError

pytestmark = pytest.mark.slow  # the real pipeline end to end

FPS = DEFAULT_GRID.frames_per_second


def _clips(data_dir: Path) -> list[dict]:
    clips = []
    for split in SPLITS:
        for clip in load_clips(data_dir, split).as_numpy_iterator():
            clips.append(clip)
    return sorted(clips, key=lambda clip: (clip["piece_id"], clip["clip_index"]))


def test_labels_of_a_built_sequence_are_exact(tmp_path: Path) -> None:
    # E minor at 90 qpm, then D major at 150 qpm from 6 s; 3 clips of 3 s.
    notes = [(64, 1.0, 1.5)]  # a lone note in clip 0: its onset is checked in both domains
    notes += [(67, 3.0 + 0.5 * i, 3.4 + 0.5 * i) for i in range(6)]  # 6 onsets in clip 1
    notes += [(62 + i % 3, 6.0 + 0.4 * i, 6.3 + 0.4 * i) for i in range(7)]  # 7 in clip 2
    notes += [(50, 8.8, 9.5)]  # an 8th onset in clip 2
    sequence = sequence_with(
        notes, tempos=[(0.0, 90.0), (6.0, 150.0)], keys=[(0.0, 4, 1), (6.0, 2, 0)]
    )
    write_sequence(tmp_path / "midi" / "someone" / "piece.mid", sequence)

    manifest = prepare(tmp_path / "out", midi_dir=tmp_path / "midi")

    assert manifest["vocabularies"]["composer"] == ["someone"]
    clips = _clips(tmp_path / "out")
    assert [clip["clip_index"] for clip in clips] == [0, 1, 2]
    assert [clip["start_time"] for clip in clips] == [0.0, 3.0, 6.0]
    assert [clip["key_signature"] for clip in clips] == [7, 7, 2]  # E minor -> G major
    assert [clip["tempo"] for clip in clips] == pytest.approx([90.0, 90.0, 150.0], rel=1e-4)
    assert all(clip["tempo_explicit"] for clip in clips)
    assert [clip["note_density"] for clip in clips] == pytest.approx([1 / 3, 6 / 3, 8 / 3])
    assert {clip["composer"] for clip in clips} == {0}
    assert {clip["composer_name"] for clip in clips} == {b"someone"}
    assert len({clip["split"] for clip in clips}) == 1

    first = clips[0]
    assert first["mel"].shape == first["roll"].shape == (192, 96)
    assert first["mel"].dtype == first["roll"].dtype == np.float32
    onset_frame = round(1.0 * FPS)
    roll_frames = np.flatnonzero(first["roll"][:, 64 - DEFAULT_GRID.lowest_pitch])
    assert roll_frames[0] == onset_frame
    energy = np.exp(first["mel"]).sum(axis=1)
    background = np.median(energy[: onset_frame - 8])
    assert np.flatnonzero(energy > 10 * background)[0] == onset_frame


def test_a_rendering_does_not_depend_on_what_the_process_rendered_before() -> None:
    from tfembed.preparation.render import find_soundfont, render_sequence

    soundfont = find_soundfont()
    scale = sequence_with(scale_notes(3.5))
    chord = sequence_with(
        [(pitch, 0.1 * index, 2.0) for index, pitch in enumerate(range(40, 90, 7))]
    )
    first = render_sequence(scale, DEFAULT_GRID, soundfont)
    assert np.abs(render_sequence(chord, DEFAULT_GRID, soundfont)).max() > 0.01
    np.testing.assert_array_equal(render_sequence(scale, DEFAULT_GRID, soundfont), first)


def test_file_without_tempo_or_key_gets_default_tempo_and_unknown_key(tmp_path: Path) -> None:
    write_raw_midi(tmp_path / "midi" / "plain.mid", scale_notes(7.0))

    prepare(tmp_path / "out", midi_dir=tmp_path / "midi", tempo_policy="stated")

    clips = _clips(tmp_path / "out")
    assert len(clips) == 2
    assert {clip["key_signature"] for clip in clips} == {UNKNOWN}
    assert {clip["tempo"] for clip in clips} == {120.0}
    assert not any(clip["tempo_explicit"] for clip in clips)
    assert {clip["composer"] for clip in clips} == {UNKNOWN}  # file not in a composer folder


def test_bad_files_are_reported_skipped_and_recorded(tmp_path: Path, capsys) -> None:
    expected = write_bad_folder(tmp_path / "midi")
    out = tmp_path / "out"

    status = prepare_main(
        ["--midi_dir", str(tmp_path / "midi"), "--out", str(out), "--max_piece_seconds", "20"]
    )

    assert status == 0
    errors = capsys.readouterr().err
    manifest = read_manifest(out)
    failures = {Path(failure["file"]).name: failure["problem"] for failure in manifest["failures"]}
    assert set(failures) == set(expected)
    for name, problem in expected.items():
        assert problem in failures[name]
        assert f"skipped {tmp_path / 'midi' / name}: {failures[name]}" in errors
    pieces = {Path(piece["file"]).name: piece for piece in manifest["pieces"]}
    assert set(pieces) == {"good.mid", "long.midi"}
    assert pieces["long.midi"]["cut_at_seconds"] == 20
    assert pieces["long.midi"]["clips"] == 20 * FPS // DEFAULT_GRID.clip_frames
    assert "cut " in errors and "long.midi at 20 s" in errors
    assert manifest["counts"]["cut_pieces"] == 1
    assert manifest["counts"]["failed_pieces"] == len(expected)


def test_long_piece_can_be_skipped_instead_of_cut(tmp_path: Path) -> None:
    write_raw_midi(tmp_path / "midi" / "long.mid", scale_notes(40.0))
    write_raw_midi(tmp_path / "midi" / "short.mid", scale_notes(10.0))

    manifest = prepare(
        tmp_path / "out", midi_dir=tmp_path / "midi", max_piece_seconds=20, long_pieces="skip"
    )

    assert [Path(piece["file"]).name for piece in manifest["pieces"]] == ["short.mid"]
    assert "too long (40 s > cap of 20 s)" in manifest["failures"][0]["problem"]


def test_nothing_prepared_exits_non_zero(tmp_path: Path, capsys) -> None:
    (tmp_path / "midi").mkdir()
    (tmp_path / "midi" / "empty.mid").write_bytes(b"")

    status = prepare_main(["--midi_dir", str(tmp_path / "midi"), "--out", str(tmp_path / "o")])

    assert status == 1
    assert "no piece could be prepared (1 failed)" in capsys.readouterr().err
    with pytest.raises(PrepareError, match="no MIDI files"):
        (tmp_path / "scores").mkdir()
        (tmp_path / "scores" / "notes.txt").write_text("a folder with no MIDI at all")
        prepare(tmp_path / "o2", midi_dir=tmp_path / "scores")


def test_missing_soundfont_stops_at_once_with_the_fix(tmp_path: Path, capsys) -> None:
    write_raw_midi(tmp_path / "midi" / "a.mid", scale_notes(5.0))

    status = prepare_main(
        [
            "--midi_dir",
            str(tmp_path / "midi"),
            "--out",
            str(tmp_path / "o"),
            "--soundfont",
            str(tmp_path / "missing.sf2"),
        ]
    )

    assert status == 1
    assert f"soundfont {tmp_path / 'missing.sf2'} does not exist" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_missing_fluidsynth_library_stops_at_once_with_the_fix(tmp_path, monkeypatch) -> None:
    write_raw_midi(tmp_path / "midi" / "a.mid", scale_notes(5.0))
    monkeypatch.setitem(sys.modules, "fluidsynth", None)  # what a missing libfluidsynth does

    with pytest.raises(RenderSetupError, match="apt-get install libfluidsynth3"):
        prepare(tmp_path / "o", midi_dir=tmp_path / "midi")


def test_metadata_csv_in_maestro_format_sets_composer_and_split(tmp_path: Path) -> None:
    midi = tmp_path / "maestro"
    write_raw_midi(midi / "2004" / "a.midi", scale_notes(7.0))
    write_raw_midi(midi / "2004" / "b.midi", scale_notes(7.0))
    write_raw_midi(midi / "2006" / "unlisted.midi", scale_notes(7.0))
    (tmp_path / "maestro.csv").write_text(
        "canonical_composer,canonical_title,split,year,midi_filename,audio_filename,duration\n"
        "Frédéric Chopin,Ballade,test,2004,2004/a.midi,2004/a.wav,7.0\n"
        'Franz Liszt,"Etude, No. 1",validation,2004,2004/b.midi,2004/b.wav,7.0\n'
        "Franz Liszt,Gone,train,2004,2004/missing.midi,2004/missing.wav,7.0\n"
    )

    manifest = prepare(tmp_path / "out", midi_dir=midi, metadata=tmp_path / "maestro.csv")

    assert manifest["vocabularies"]["composer"] == ["Franz Liszt", "Frédéric Chopin"]
    by_file = {Path(piece["file"]).name: piece for piece in manifest["pieces"]}
    assert by_file["a.midi"]["split"] == "test" and by_file["b.midi"]["split"] == "validation"
    assert by_file["b.midi"]["title"] == "Etude, No. 1"
    assert manifest["failures"] == [
        {
            "file": str(midi / "2004" / "missing.midi"),
            "problem": "listed in the metadata but missing",
        }
    ]
    test_clips = list(load_clips(tmp_path / "out", "test").as_numpy_iterator())
    assert {clip["composer"] for clip in test_clips} == {1}


def test_tiny_corpus_dataset_is_split_by_piece_with_consecutive_clips(tiny_dataset) -> None:
    manifest = read_manifest(tiny_dataset)
    assert manifest["vocabularies"]["composer"] == ["bach", "haydn", "josquin", "palestrina"]
    pieces_of = {}
    for split in SPLITS:
        clips = list(load_clips(tiny_dataset, split).as_numpy_iterator())
        assert len(clips) == manifest["counts"]["clips"][split] > 0
        pieces_of[split] = {clip["piece_id"] for clip in clips}
        for clip in clips:
            assert clip["split"].decode() == split
            assert clip["roll"].any()
            assert np.isfinite(clip["mel"]).all()
            assert 0 <= clip["composer"] < 4
            assert clip["start_time"] == clip["clip_index"] * 3.0
    assert not pieces_of["train"] & pieces_of["test"]
    assert not pieces_of["train"] & pieces_of["validation"]
    assert not pieces_of["validation"] & pieces_of["test"]
    for split, entries in manifest["shards"].items():
        assert sum(entry["clips"] for entry in entries) == manifest["counts"]["clips"][split]
    assert json.loads((tiny_dataset / "run_options.json").read_text())["source"]["kind"] == (
        "music21"
    )


def test_ctrl_c_while_parsing_is_not_taken_for_a_corrupt_file(tmp_path: Path, monkeypatch) -> None:
    import pretty_midi

    from tfembed.preparation.midi import read_midi

    path = write_sequence(tmp_path / "a.mid", sequence_with(scale_notes(4.0)))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pretty_midi, "PrettyMIDI", interrupted)
    with pytest.raises(KeyboardInterrupt):
        read_midi(path)
